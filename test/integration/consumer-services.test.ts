import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { processOrders } from '../../functions/process-orders.ts';
import { loadConfig } from '../../lib/config.ts';
import { createConsumerServices } from '../../lib/consumer-services.ts';
import { type DeadLetter, deadLetterTopicOf } from '../../lib/kafka/dead-letters.ts';
import { consumeMessages, testKafka, uniqueTopic } from '../support/kafka.ts';
import { mskEvent, mskRecord } from './msk-events.ts';

// The consumers' Lambda handlers take lib/consumer-services.ts: Redis, and Kafka loaded by the
// first dead letter. Real broker and Redis.

const stack = inject('stack');
const admin = testKafka(stack.kafkaBrokers).admin();
const topic = uniqueTopic('consumer-services');
const services = createConsumerServices(
  loadConfig({
    KAFKA_BROKERS: stack.kafkaBrokers,
    KAFKA_CLIENT_ID: 'narad-tests',
    UPSTASH_REDIS_REST_URL: stack.upstashUrl,
    UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
  }),
);

beforeAll(async () => {
  await admin.connect();
  await admin.createTopics({
    topics: [topic, deadLetterTopicOf(topic)].map((name) => ({ topic: name, numPartitions: 1 })),
    waitForLeaders: true,
  });
});
afterAll(async () => {
  await services.kafka?.disconnect();
  await admin.deleteTopics({ topics: [topic, deadLetterTopicOf(topic)] });
  await admin.disconnect();
});

describe("a consumer function's services", () => {
  it('leave kafkajs unloaded when a consumer function is loaded', async () => {
    const script = [
      "const { createRequire } = await import('node:module');",
      "await import('./functions/process-analytics.ts');",
      "await import('./functions/process-orders.ts');",
      "await import('./functions/user-cache-events.ts');",
      'const cache = createRequire(import.meta.url).cache;',
      "console.log(JSON.stringify(Object.keys(cache).filter((file) => file.includes('/node_modules/kafkajs/'))));",
    ].join('\n');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: process.cwd(), env: { ...process.env, LOG_LEVEL: 'SILENT' } },
    );

    expect(JSON.parse(stdout)).toEqual([]);
  });

  it('dead-letter a record that cannot be handled, through Kafka loaded for it', async () => {
    const poison = Buffer.from([0x7b, 0xff, 0xfe, 0x22]);
    const handler = processOrders({ services: () => services });
    expect(services.kafka?.isConnected).toBe(false);

    const response = await handler(
      mskEvent([mskRecord(topic, { offset: 0, key: 'poison-key', value: poison })]),
    );
    const [letter] = await consumeMessages(stack.kafkaBrokers, deadLetterTopicOf(topic), 1);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(letter?.key).toBe('poison-key');
    expect(letter?.value as DeadLetter).toMatchObject({
      source: { topic, partition: 0, offset: 0 },
      value: poison.toString('base64'),
      errorType: 'RecordDecodeError',
      consumer: 'processOrders',
    });
    expect(services.kafka?.isConnected).toBe(true);
  });
});
