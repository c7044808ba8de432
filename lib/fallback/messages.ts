import { randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import {
  KafkaUnavailableError,
  MessageNotAcceptedError,
  RedisUnavailableError,
} from '../errors.ts';
import {
  CORRELATION_ID_HEADER,
  type KafkaService,
  type OutgoingMessage,
  type SendOptions,
  type SendResult,
} from '../kafka/producer.ts';
import { defineScript, runScript } from '../redis/scripts.ts';
import type { RedisService } from '../redis/service.ts';

/** The Redis list holding messages for `topic` that Kafka could not take. */
export const fallbackListKey = (topic: string): string => `kafka_fallback:${topic}`;
const deadListKey = (topic: string) => `kafka_fallback_dead:${topic}`;
const drainLockKey = (topic: string) => `kafka_fallback_lock:${topic}`;

/**
 * One entry of a fallback list: the design's `{message, timestamp, originalTopic}` with the
 * design's types (`message` the value as sent, `timestamp` epoch milliseconds as `Date.now()`),
 * plus what a faithful replay needs (the key, the headers) and an id.
 */
export interface FallbackEntry {
  id: string;
  message: unknown;
  /** When it was parked: epoch milliseconds (`Date.now()`). */
  timestamp: number;
  originalTopic: string;
  key?: string;
  headers: Record<string, string>;
}

export interface MessagingDeps {
  kafka: KafkaService | undefined;
  redis: RedisService | undefined;
}

export type SendOutcome =
  | { path: 'kafka'; result: SendResult }
  | { path: 'fallback'; list: string; correlationId: string };

const notAccepted = (topic: string, kafkaProblem: string, redisProblem: string, cause: unknown) =>
  new MessageNotAcceptedError(
    `The message(s) for topic "${topic}" were not accepted: ${kafkaProblem}, and ${redisProblem}. Nothing was stored; retry later.`,
    topic,
    { cause },
  );

/**
 * Sends to Kafka; while Kafka is unreachable (or not configured), LPUSHes the messages to
 * `kafka_fallback:<topic>` for `drainFallback` to replay, in one request and in order. Only an
 * outage falls back: a message Kafka refuses (too large, not authorized) would be refused again
 * on replay, so that error is the caller's. A send that was not acknowledged in the time the
 * invocation had left (KafkaDeliveryUnknownError) is parked too: it may be in Kafka already,
 * but a copy too many is de-duplicated by the consumers, a message lost is not recoverable.
 * @throws MessageNotAcceptedError when neither Kafka nor Redis took the messages.
 */
export const sendWithFallback = async (
  { kafka, redis }: MessagingDeps,
  topic: string,
  input: OutgoingMessage | OutgoingMessage[],
  options: SendOptions = {},
): Promise<SendOutcome> => {
  const correlationId = options.correlationId ?? randomUUID();
  const messages = Array.isArray(input) ? input : [input];
  let kafkaProblem = 'Kafka is not configured';
  if (kafka) {
    try {
      return {
        path: 'kafka',
        // Keep back what the fallback write may take, so a send that hangs still leaves time
        // to park the messages before the invocation's deadline.
        result: await kafka.sendBatch(topic, messages, {
          ...options,
          correlationId,
          reserveMs: redis?.requestTimeoutMs ?? 0,
        }),
      };
    } catch (error) {
      if (!(error instanceof KafkaUnavailableError)) throw error;
      kafkaProblem = error.message;
    }
  }
  if (!redis) throw notAccepted(topic, kafkaProblem, 'Redis is not configured', undefined);
  const timestamp = Date.now();
  const entries = messages.map((message): FallbackEntry => {
    const key = message.key ?? options.key;
    return {
      id: randomUUID(),
      message: message.value,
      timestamp,
      originalTopic: topic,
      ...(key === undefined ? {} : { key }),
      headers: { ...options.headers, ...message.headers, [CORRELATION_ID_HEADER]: correlationId },
    };
  });
  const list = fallbackListKey(topic);
  try {
    // One LPUSH of many values puts the last at the head, so the oldest stays at the tail.
    await redis.client.lpush(list, ...entries);
  } catch (error) {
    const redisProblem = error instanceof Error ? error.message : String(error);
    throw notAccepted(
      topic,
      kafkaProblem,
      `the fallback list ${list} could not be written (${redisProblem})`,
      error,
    );
  }
  return { path: 'fallback', list, correlationId };
};

const isEntry = (value: unknown): value is FallbackEntry =>
  typeof value === 'object' &&
  value !== null &&
  'message' in value &&
  typeof (value as FallbackEntry).originalTopic === 'string';

// Compare-and-act on the lock, so a drain never extends or releases a lock it no longer holds.
const EXTEND_LOCK = defineScript({
  name: 'extend drain lock',
  lua: `#!lua flags=allow-key-locking
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) else return 0 end`,
  emulate: (call, [lock = ''], [token = '', seconds = '']) =>
    call('GET', lock) === token ? call('EXPIRE', lock, seconds) : 0,
});
const RELEASE_LOCK = defineScript({
  name: 'release drain lock',
  lua: `#!lua flags=allow-key-locking
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`,
  emulate: (call, [lock = ''], [token = '']) =>
    call('GET', lock) === token ? call('DEL', lock) : 0,
});

export interface DrainResult {
  topic: string;
  sent: number;
  /** Entries that were not fallback entries; moved aside to kafka_fallback_dead:<topic>. */
  deadLettered: number;
  remaining: number;
  /** Why the drain stopped early, when it did. */
  stoppedBecause?: string;
}

export interface DrainOptions {
  batchSize?: number;
  lockSeconds?: number;
}

const drainTopic = async (
  kafka: KafkaService,
  redis: RedisService,
  topic: string,
  { batchSize = 100, lockSeconds = 60 }: DrainOptions,
): Promise<DrainResult> => {
  const client = redis.client;
  const list = fallbackListKey(topic);
  const lock = drainLockKey(topic);
  const token = randomUUID();
  const result: DrainResult = { topic, sent: 0, deadLettered: 0, remaining: 0 };
  if ((await client.set(lock, token, { nx: true, ex: lockSeconds })) === null) {
    result.remaining = await client.llen(list);
    result.stoppedBecause = 'another drain of this topic is running';
    return result;
  }
  try {
    for (;;) {
      // LPUSH adds at the head, so the oldest entries are at the tail: take them from there,
      // and trim from there once Kafka acknowledged them. Concurrent LPUSHes never collide.
      const batch = await client.lrange<unknown>(list, -batchSize, -1);
      if (batch.length === 0) break;
      const oldestFirst = batch.reverse();
      const entries = oldestFirst.filter(isEntry);
      const malformed = oldestFirst.filter((value) => !isEntry(value));
      if (malformed.length > 0) await client.lpush(deadListKey(topic), ...malformed);
      if (entries.length > 0) {
        try {
          await kafka.sendBatch(
            topic,
            entries.map((entry) => ({
              value: entry.message,
              key: entry.key,
              headers: entry.headers,
            })),
          );
        } catch (error) {
          result.stoppedBecause = error instanceof Error ? error.message : String(error);
          break;
        }
      }
      await client.ltrim(list, 0, -(batch.length + 1));
      result.sent += entries.length;
      result.deadLettered += malformed.length;
      if ((await runScript(client, EXTEND_LOCK, [lock], [token, lockSeconds])) !== 1) {
        result.stoppedBecause = 'the drain lock expired; another drain may have taken over';
        break;
      }
    }
  } finally {
    await runScript(client, RELEASE_LOCK, [lock], [token]).catch(() => undefined);
  }
  result.remaining = await client.llen(list);
  return result;
};

/** The topics that have a fallback list. */
export const fallbackTopics = async (redis: RedisService): Promise<string[]> => {
  const topics: string[] = [];
  let cursor: string | number = '0';
  do {
    const [next, keys]: [string | number, string[]] = await redis.client.scan(cursor, {
      match: 'kafka_fallback:*',
      count: 500,
    });
    topics.push(...keys.map((key) => key.slice('kafka_fallback:'.length)));
    cursor = next;
  } while (String(cursor) !== '0');
  return [...new Set(topics)].sort();
};

/**
 * Replays the fallback lists of `topics` to Kafka, oldest first, removing entries only after
 * the brokers acknowledged them. A drain that dies half way loses nothing (the unacknowledged
 * entries are still in the list); a per-topic lock keeps two drains from sending the same
 * entries. The scheduled drain passes PARKED_TOPICS; `npm run drain` without a topic passes
 * every list `fallbackTopics` finds.
 * @throws RedisUnavailableError when Redis cannot be read (nothing was moved).
 */
export const drainFallback = async (
  { kafka, redis, config }: MessagingDeps & { config?: Pick<Config, 'embedded'> },
  topics: string | readonly string[],
  options: DrainOptions = {},
): Promise<DrainResult[]> => {
  const names = typeof topics === 'string' ? [topics] : [...topics];
  if (!redis)
    throw new RedisUnavailableError(
      'Redis is not configured; there are no fallback lists to drain',
    );
  if (!kafka)
    throw new KafkaUnavailableError(
      'Kafka is not configured; fallback lists cannot be drained',
      names.join(','),
    );
  if (config?.embedded.kafka) {
    // Embedded Kafka lives in this process's memory (npm start without a broker, beside a real
    // Redis): a drain would move durable messages somewhere they die with the process.
    return Promise.all(
      names.map(async (name) => ({
        topic: name,
        sent: 0,
        deadLettered: 0,
        remaining: await redis.client.llen(fallbackListKey(name)),
        stoppedBecause:
          'Kafka is embedded (in memory): the list stays in Redis until a real broker is configured',
      })),
    );
  }
  const results: DrainResult[] = [];
  for (const name of names) results.push(await drainTopic(kafka, redis, name, options));
  return results;
};
