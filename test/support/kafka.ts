import { randomUUID } from 'node:crypto';
import { Kafka, type KafkaMessage, logLevel, type Producer } from 'kafkajs';

/** A topic name no other test uses. */
export const uniqueTopic = (name: string): string => `test.${name}.${randomUUID().slice(0, 8)}`;

export const testKafka = (brokers: string): Kafka =>
  new Kafka({ clientId: 'narad-tests', brokers: [brokers], logLevel: logLevel.NOTHING });

/**
 * A producer for tests that count the records on their topics: idempotent, because a produce
 * retried after a lost answer (a loaded machine) would otherwise append its batch twice.
 */
export const testProducer = (kafka: Kafka): Producer =>
  kafka.producer({ idempotent: true, maxInFlightRequests: 1 });

/** Creates `topic` with `partitions` and waits until its leaders are known. */
export const createTopic = async (
  brokers: string,
  topic: string,
  partitions = 1,
): Promise<void> => {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
};

/** How many messages the topic holds (sum over partitions of high - low watermark). */
export const countMessages = async (brokers: string, topic: string): Promise<number> => {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, { high, low }) => sum + Number(high) - Number(low), 0);
  } finally {
    await admin.disconnect();
  }
};

export interface Consumed {
  partition: number;
  offset: string;
  /** The record's timestamp (epoch ms). */
  timestamp: number;
  key: string | null;
  value: unknown;
  headers: Record<string, string>;
}

const toConsumed = (partition: number, message: KafkaMessage): Consumed => ({
  partition,
  offset: message.offset,
  timestamp: Number(message.timestamp),
  key: message.key?.toString() ?? null,
  value: message.value ? JSON.parse(message.value.toString()) : null,
  headers: Object.fromEntries(
    Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]),
  ),
});

/**
 * Reads `count` messages of `topic` from the beginning with a fresh consumer group, resolving
 * as soon as they arrived (each partition in offset order).
 * @throws when they did not all arrive within `timeoutMs`.
 */
export const consumeMessages = async (
  brokers: string,
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<Consumed[]> => {
  const consumer = testKafka(brokers).consumer({
    groupId: `test-${randomUUID()}`,
    maxWaitTimeInMs: 100,
  });
  const received: Consumed[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `only ${received.length} of ${count} messages arrived from ${topic} in ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          received.push(toConsumed(partition, message));
          if (received.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    return received;
  } finally {
    await consumer.disconnect();
  }
};
