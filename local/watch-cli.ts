import { randomUUID } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { loadConfig } from '../lib/config.ts';
import { createKafkaClient } from '../lib/kafka/client.ts';
import { loadLocalToolEnv } from './dotenv.ts';

/**
 * `npm run watch -- <topic> [<topic> ...] [--from-beginning]`: prints each record of the topics
 * as it arrives (partition, offset, key, correlation id, value), with the brokers and auth of
 * .env. It reads in a throwaway consumer group, so it never takes records from the consumers.
 */
loadLocalToolEnv();

const args = process.argv.slice(2);
const fromBeginning = args.includes('--from-beginning');
const topics = args.filter((arg) => !arg.startsWith('--'));

const line = (topic: string, partition: number, message: KafkaMessage): string => {
  const correlation = message.headers?.['x-correlation-id'];
  return [
    `${topic}[${partition}]@${message.offset}`,
    `key=${message.key?.toString() ?? '-'}`,
    ...(correlation ? [`correlation=${correlation.toString()}`] : []),
    message.value?.toString() ?? '(null)',
  ].join(' ');
};

const main = async () => {
  if (topics.length === 0) {
    console.error('usage: npm run watch -- <topic> [<topic> ...] [--from-beginning]');
    process.exitCode = 2;
    return;
  }
  const setup = loadConfig().kafka;
  if (setup.kind === 'embedded' || setup.kind === 'none') {
    throw new Error(
      setup.kind === 'embedded'
        ? 'Kafka is embedded (NARAD_EMBEDDED): its topics live inside npm start, there is no broker to watch'
        : 'Kafka is not configured: set KAFKA_BROKERS (the local broker is 127.0.0.1:9092)',
    );
  }
  const kafka = createKafkaClient(setup);
  // Subscribing to a topic that does not exist yet fails; in development the producers would
  // create it on first send anyway, so create it now and wait for its first record.
  if (setup.allowAutoTopicCreation) {
    const admin = kafka.admin();
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0)
      await admin.createTopics({ topics: missing.map((topic) => ({ topic })) });
    await admin.disconnect();
  }
  const consumer = kafka.consumer({
    groupId: `narad-watch-${randomUUID().slice(0, 8)}`,
  });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      console.log(line(topic, partition, message));
    },
  });
  console.error(
    `watch: ${topics.join(', ')}${fromBeginning ? ' from the beginning' : ''} (Ctrl-C stops)`,
  );
  const stop = async () => {
    await consumer.disconnect();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
};

main().catch((error: unknown) => {
  console.error(`watch: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
