import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Message } from 'kafkajs';

/** A topic name of this run only (deleted again at the end). */
export const benchTopic = (name: string): string => `bench.${name}.${randomUUID().slice(0, 8)}`;

export const benchKafka = (brokers: string, clientId = 'narad-bench'): Kafka =>
  new Kafka({ clientId, brokers: brokers.split(','), logLevel: logLevel.NOTHING });

/** Creates `topic` with `partitions` partitions, waits for its leaders, and deletes it after `run`. */
export const withTopic = async <T>(
  brokers: string,
  topic: string,
  partitions: number,
  run: () => Promise<T>,
): Promise<T> => {
  const admin = benchKafka(brokers).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions }],
      waitForLeaders: true,
    });
    return await run();
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
};

/** Writes `count` messages made by `make` to `topic`, 1,000 per request. */
export const fillTopic = async (
  brokers: string,
  topic: string,
  count: number,
  make: (i: number) => Message,
): Promise<void> => {
  const producer = benchKafka(brokers).producer();
  await producer.connect();
  try {
    for (let sent = 0; sent < count; sent += 1_000) {
      const messages = Array.from({ length: Math.min(1_000, count - sent) }, (_, i) =>
        make(sent + i),
      );
      await producer.send({ topic, messages });
    }
  } finally {
    await producer.disconnect();
  }
};
