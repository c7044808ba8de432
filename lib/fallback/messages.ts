// Messages for Kafka that Kafka could not take: sendWithFallback parks them in
// kafka_fallback:<topic> (with analytics events held for de-duplication); drain.ts replays them.
import { randomUUID } from 'node:crypto';
import {
  analyticsEventIdOf,
  HOLD_EVENTS_LUA,
  holdAnalyticsEvents,
  holdArguments,
  holdEvents,
} from '../analytics/dedup.ts';
import { KafkaUnavailableError, MessageNotAcceptedError } from '../errors.ts';
import type { KafkaService, OutgoingMessage, SendOptions, SendResult } from '../kafka/producer.ts';
import { CORRELATION_ID_HEADER } from '../kafka/record-headers.ts';
import { recordMetric } from '../metrics.ts';
import { defineScript, runScript } from '../redis/scripts.ts';
import type { RedisService } from '../redis/service.ts';

/** Largest number of values one RPUSH / LPUSH inside a script carries (Lua's unpack limit). */
export const PUSH_CHUNK = 1000;

/** The Redis list holding messages for `topic` that Kafka could not take. */
export const fallbackListKey = (topic: string): string => `kafka_fallback:${topic}`;
export const deadListKey = (topic: string): string => `kafka_fallback_dead:${topic}`;

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
          // A re-send after a producer reset may be a second copy: hold its analytics events.
          ...(redis
            ? {
                beforeResend: (sent: OutgoingMessage[]) =>
                  holdAnalyticsEvents(
                    redis.client,
                    sent.map((message) => message.value),
                  ),
              }
            : {}),
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
    await park(redis, list, entries);
  } catch (error) {
    const redisProblem = error instanceof Error ? error.message : String(error);
    throw notAccepted(
      topic,
      kafkaProblem,
      `the fallback list ${list} could not be written (${redisProblem})`,
      error,
    );
  }
  recordMetric('FallbackParked', entries.length);
  return { path: 'fallback', list, correlationId };
};

// KEYS: the list, then the hold window and holds (dedup.ts holdArguments). ARGV: id count,
// then holdArguments' ARGV, then the entries. Holds the analytics events among the entries
// and LPUSHes them, in one step: the send that failed may have reached the broker, and the
// copy the drain makes later must be recognised as a second one (lib/analytics/dedup.ts).
const PARK_HELD = defineScript({
  name: 'park held analytics events',
  lua: `#!lua flags=allow-key-locking${HOLD_EVENTS_LUA}
local idCount, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local windowKeys, holdKeys, ids = {}, {}, {}
for i = 1, window do windowKeys[i] = KEYS[1 + i] end
for i = 1, idCount do
  ids[i] = ARGV[3 + i]
  holdKeys[i] = KEYS[1 + window + i]
end
holdEvents(windowKeys, holdKeys, ids, ARGV[3])
for from = 4 + idCount, #ARGV, ${PUSH_CHUNK} do
  redis.call('LPUSH', KEYS[1], unpack(ARGV, from, math.min(from + ${PUSH_CHUNK - 1}, #ARGV)))
end
return redis.call('LLEN', KEYS[1])`,
  emulate: (call, [list = '', ...keys], [idCount = '0', window = '0', ttl = '', ...rest]) => {
    const size = Number(window);
    const ids = rest.slice(0, Number(idCount));
    holdEvents(call, keys.slice(0, size), keys.slice(size), ids, ttl);
    const entries = rest.slice(ids.length);
    for (let from = 0; from < entries.length; from += PUSH_CHUNK) {
      call('LPUSH', list, ...entries.slice(from, from + PUSH_CHUNK));
    }
    return call('LLEN', list);
  },
});

/** LPUSHes the entries; holds the analytics events among them in the same step. */
const park = async (redis: RedisService, list: string, entries: FallbackEntry[]) => {
  const ids = [
    ...new Set(
      entries.map((entry) => analyticsEventIdOf(entry.message)).filter((id) => id !== undefined),
    ),
  ];
  if (ids.length === 0) {
    await redis.client.lpush(list, ...entries);
    return;
  }
  const hold = holdArguments(ids, Date.now());
  await runScript(
    redis.client,
    PARK_HELD,
    [list, ...hold.keys],
    [ids.length, ...hold.args, ...entries.map((entry) => JSON.stringify(entry))],
  );
};

export const isEntry = (value: unknown): value is FallbackEntry =>
  typeof value === 'object' &&
  value !== null &&
  'message' in value &&
  typeof (value as FallbackEntry).originalTopic === 'string';
