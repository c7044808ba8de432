import { randomUUID } from 'node:crypto';
import type { Redis } from '@upstash/redis';
import { type Consumed, testKafka } from '../../support/kafka.ts';

/** A message read back, with the topic it was read from. */
export type TopicMessage = Consumed & { topic: string };

/**
 * What a test wrote, seen from outside: the Redis keys whose names carry a marker, and the
 * messages that reached topics after a snapshot of their offsets. Used to prove that refused
 * requests wrote nothing, and to count what accepted ones wrote, on a stack shared with
 * other tests (each test marks its own ids, so others' writes never match).
 */

/** The end offset of each partition of each topic, taken before the requests under test. */
export type TopicOffsets = Map<string, Map<number, bigint>>;

/** The high watermarks of `topics` now (topics that do not exist yet are created empty). */
export const topicOffsets = async (brokers: string, topics: string[]): Promise<TopicOffsets> => {
  const admin = testKafka(brokers).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length > 0) {
      await admin.createTopics({
        topics: missing.map((topic) => ({ topic, numPartitions: 3 })),
        waitForLeaders: true,
      });
    }
    const snapshot: TopicOffsets = new Map();
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      snapshot.set(topic, new Map(offsets.map(({ partition, high }) => [partition, BigInt(high)])));
    }
    return snapshot;
  } finally {
    await admin.disconnect();
  }
};

/**
 * Every message written to the snapshot's topics since `before`, up to their end offsets at
 * the time of this call, read with a fresh consumer group that seeks to the snapshot.
 * @throws when they could not all be read within `timeoutMs`.
 */
export const messagesSince = async (
  brokers: string,
  before: TopicOffsets,
  timeoutMs = 30_000,
): Promise<TopicMessage[]> => {
  const now = await topicOffsets(brokers, [...before.keys()]);
  const ranges = [...now].flatMap(([topic, partitions]) =>
    [...partitions].flatMap(([partition, end]) => {
      const start = before.get(topic)?.get(partition) ?? 0n;
      return end > start ? [{ topic, partition, start, end }] : [];
    }),
  );
  if (ranges.length === 0) return [];
  const received: TopicMessage[] = [];
  const remaining = new Map(ranges.map((r) => [`${r.topic}/${r.partition}`, r.end]));
  const consumer = testKafka(brokers).consumer({
    groupId: `test-writes-${randomUUID()}`,
    maxWaitTimeInMs: 100,
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set(ranges.map((r) => r.topic))] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `only ${received.length} messages read in ${timeoutMs} ms; still waiting on ${[...remaining.keys()].join(', ')}`,
          ),
        );
      }, timeoutMs);
      void consumer
        .run({
          eachMessage: async ({ topic, partition, message }) => {
            const id = `${topic}/${partition}`;
            const end = remaining.get(id);
            if (end === undefined || BigInt(message.offset) >= end) return;
            received.push({
              topic,
              partition,
              offset: message.offset,
              timestamp: Number(message.timestamp),
              key: message.key?.toString() ?? null,
              value: message.value ? JSON.parse(message.value.toString()) : null,
              headers: Object.fromEntries(
                Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
              ),
            });
            if (BigInt(message.offset) + 1n >= end) remaining.delete(id);
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
      for (const { topic, partition, start } of ranges) {
        consumer.seek({ topic, partition, offset: start.toString() });
      }
    });
    return received;
  } finally {
    await consumer.disconnect();
  }
};

/** The messages whose key or value mentions `marker`. */
export const carrying = <T extends Consumed>(messages: T[], marker: string): T[] =>
  messages.filter(
    (message) => message.key?.includes(marker) || JSON.stringify(message.value).includes(marker),
  );

/** Every Redis key whose name contains `marker` (SCAN, so it never blocks the server). */
export const keysContaining = async (redis: Redis, marker: string): Promise<string[]> => {
  const found: string[] = [];
  let cursor: string | number = '0';
  do {
    const [next, keys]: [string | number, string[]] = await redis.scan(cursor, {
      match: `*${marker}*`,
      count: 1000,
    });
    found.push(...keys);
    cursor = next;
  } while (String(cursor) !== '0');
  return [...new Set(found)];
};

/** The values of every key matching `pattern` (SCAN + MGET in chunks). */
export const valuesMatching = async (redis: Redis, pattern: string): Promise<unknown[]> => {
  const keys = new Set<string>();
  let cursor: string | number = '0';
  do {
    const [next, batch]: [string | number, string[]] = await redis.scan(cursor, {
      match: pattern,
      count: 1000,
    });
    for (const key of batch) keys.add(key);
    cursor = next;
  } while (String(cursor) !== '0');
  const all = [...keys];
  const values: unknown[] = [];
  for (let i = 0; i < all.length; i += 500) {
    values.push(...(await redis.mget<unknown[]>(...all.slice(i, i + 500))));
  }
  return values;
};
