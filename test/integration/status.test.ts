import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fallbackListKey } from '../../lib/fallback/messages.ts';
import { deadLetterTopicOf } from '../../lib/kafka/dead-letters.ts';
import {
  inProcessInvoker,
  type KafkaMapping,
  type MskBridge,
  silentLog,
  startMskBridge,
} from '../../local/msk-bridge/index.ts';
import { collectStatus, type StatusReport } from '../../local/status/collect.ts';
import { renderStatus } from '../../local/status/render.ts';
import { testKafka, testProducer, uniqueTopic } from '../support/kafka.ts';
import { inspector, keygen, redisServiceFor } from '../support/redis.ts';
import { withStampDays } from '../support/utc-days.ts';
import { eventually } from '../support/wait.ts';

// `npm run status` against the real test stack: the lag of a mapping's consumer group rises
// while its bridge is stopped and records are produced, and falls to zero once a bridge
// (the same consumer group) caught up; DLQ topics and fallback lists are counted.

const stack = inject('stack');
const kafka = testKafka(stack.kafkaBrokers);
const admin = kafka.admin();
const producer = testProducer(kafka);
const keys = keygen(inspector(stack));
const redis = redisServiceFor(stack);
const topics: string[] = [];
const bridges: MskBridge[] = [];

beforeAll(async () => {
  await Promise.all([admin.connect(), producer.connect()]);
});
afterAll(async () => {
  await Promise.allSettled(bridges.map((bridge) => bridge.stop()));
  await producer.disconnect();
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics({ topics: topics.filter((topic) => existing.has(topic)) });
  await admin.disconnect();
  await keys.cleanup();
});

const mappingFor = (topic: string): KafkaMapping => ({
  id: 'statusConsumer#0',
  functionKey: 'statusConsumer',
  functionName: 'narad-services-test-statusConsumer',
  eventSource: 'aws:kafka',
  eventSourceArn: 'arn:aws:kafka:us-east-1:000000000000:cluster/narad-test/00000000-1',
  topic,
  consumerGroupId: `test-status-${randomUUID()}`,
  batchSize: 10,
  batchingWindowMs: 50,
  startingPosition: 'TRIM_HORIZON',
  reportBatchItemFailures: true,
  enabled: true,
});

const startBridge = async (mapping: KafkaMapping) => {
  const bridge = await startMskBridge({
    brokers: stack.kafkaBrokers,
    mappings: [mapping],
    invoke: inProcessInvoker({
      [mapping.functionName]: async () => ({ batchItemFailures: [] }),
    }),
    log: silentLog,
    retryBackoff: { initialMs: 20, maxMs: 50 },
    fetchMaxWaitMs: 100,
  });
  bridges.push(bridge);
  return bridge;
};

const status = (mapping: KafkaMapping) => collectStatus({ kafka, redis, mappings: [mapping] });

const lagOf = (report: StatusReport) => {
  expect(report.lag.ok, JSON.stringify(report.lag)).toBe(true);
  return report.lag.ok ? report.lag.value.reduce((sum, row) => sum + row.lag, 0) : Number.NaN;
};

const produce = (topic: string, count: number) =>
  producer.send({
    topic,
    messages: Array.from({ length: count }, (_, i) => ({ value: JSON.stringify({ i }) })),
  });

describe('npm run status', () => {
  it('shows lag while the bridge is stopped and records are produced, and zero once it caught up', async () => {
    const topic = uniqueTopic('status');
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    topics.push(topic);
    const mapping = mappingFor(topic);

    // The group exists and has committed everything produced so far.
    const first = await startBridge(mapping);
    await produce(topic, 2);
    await eventually(
      async () => lagOf(await status(mapping)),
      (lag) => lag === 0,
      { timeoutMs: 30_000, what: 'no lag' },
    );
    await first.stop();

    await produce(topic, 5);
    const behind = await status(mapping);
    expect(lagOf(behind)).toBe(5);
    if (behind.lag.ok) {
      expect(behind.lag.value.map((row) => row.partition)).toEqual([0, 1]);
      for (const row of behind.lag.value) {
        expect(row).toMatchObject({ mapping: 'statusConsumer#0', group: mapping.consumerGroupId });
        expect(row.lag).toBe(row.end - (row.committed ?? 0));
      }
    }
    const screen = renderStatus(behind);
    expect(screen).toContain('Consumer lag');
    expect(screen).toMatch(new RegExp(`statusConsumer#0\\s+${topic.replaceAll('.', '\\.')}\\s+0`));

    await startBridge(mapping);
    await eventually(
      async () => lagOf(await status(mapping)),
      (lag) => lag === 0,
      { timeoutMs: 30_000, what: 'no lag' },
    );
  }, 90_000);

  it('counts the records of each DLQ topic and the length of each fallback list, and says the health of each part', async () => {
    const topic = uniqueTopic('status-dlq');
    const dlq = deadLetterTopicOf(topic);
    await admin.createTopics({ topics: [{ topic: dlq, numPartitions: 1 }], waitForLeaders: true });
    topics.push(dlq);
    await produce(dlq, 3);
    const list = keys.track(fallbackListKey(topic));
    await inspector(stack).lpush(
      list,
      JSON.stringify({ message: 1 }),
      JSON.stringify({ message: 2 }),
    );

    const { result: report, days } = await withStampDays(() =>
      collectStatus({ kafka, redis, mappings: [] }),
    );

    expect(report.health.kafka.ok).toBe(true);
    expect(report.health.redis.ok).toBe(true);
    expect(report.deadLetters.ok && report.deadLetters.value).toContainEqual({
      topic: dlq,
      records: 3,
    });
    expect(report.fallback.ok && report.fallback.value).toContainEqual({ topic, length: 2 });
    expect(report.fallback.ok && report.fallback.value.map((row) => row.topic)).toEqual(
      expect.arrayContaining(['orders', 'user.events', 'system.events']),
    );
    expect(report.orders.ok).toBe(true);
    // The day the report was read on (either, for a run across midnight UTC).
    expect(days).toContain(report.analytics.ok && report.analytics.value.date);
    const screen = renderStatus(report);
    expect(screen).toContain(`${dlq}  3 record(s)`);
    expect(screen).toContain(`kafka_fallback:${topic}`);
  });

  it('says clearly what it cannot see when Kafka and Redis are embedded in npm start', async () => {
    const report = await collectStatus({
      kafka: undefined,
      redis: undefined,
      mappings: [],
      kafkaMissing: 'Kafka is embedded in the npm start process',
      redisMissing: 'Redis is embedded in the npm start process',
    });

    const screen = renderStatus(report);
    expect(screen).toContain('cannot see it: Kafka is embedded in the npm start process');
    expect(screen).toContain('cannot see it: Redis is embedded in the npm start process');
    expect(screen).toContain('kafka  DOWN or unseen: Kafka is embedded');
  });
});
