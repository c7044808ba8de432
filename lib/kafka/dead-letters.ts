import { ValidationError } from '../errors.ts';
import { recordMetric } from '../metrics.ts';
import type { RedisService } from '../redis/service.ts';
import * as z from '../zod.ts';
import type { KafkaService } from './producer.ts';
import { CORRELATION_ID_HEADER } from './record-headers.ts';

/**
 * Poison records: a record that can never be handled (its bytes do not decode, its value is
 * not what the topic carries) or whose handling keeps failing goes to `<topic>.dlq`, with its
 * original bytes and why, so its partition can move on and an operator can inspect or replay
 * it. Nothing is skipped on a guess: when the attempt count or the dead-letter topic cannot
 * be reached, the record is reported failed and Kafka delivers it again.
 */

/** Where a record of `topic` goes when it cannot be handled. */
export const deadLetterTopicOf = (topic: string): string => `${topic}.dlq`;

/**
 * Attempts of a record whose handling throws for a reason that may pass (an outage), before
 * it is dead-lettered. Below the mappings' MaximumRetryAttempts (10, serverless.yml), so this
 * bound trips first and the record lands in `<topic>.dlq` in our format, with its error.
 */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** How long an attempt count is kept: far longer than any retry sequence of a mapping. */
export const ATTEMPTS_TTL_SECONDS = 86_400;

/**
 * The Redis key counting the attempts of one consumer at one record. A topic deleted and
 * created again (or a broker whose data was wiped) starts its offsets at 0 again, so the
 * position alone would hand the new record at an offset the attempts of the old one: the
 * record's timestamp, which a redelivery keeps and a new record almost never shares, is part
 * of the key.
 */
export const attemptsKey = (
  consumer: string,
  { topic, partition, offset, timestamp }: RecordPosition & { timestamp?: unknown },
) =>
  `dlq:attempts:${consumer}:${topic}:${partition}:${offset}:${typeof timestamp === 'number' && Number.isFinite(timestamp) ? timestamp : 'none'}`;

interface RecordPosition {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * A record as the event source delivered it (the `aws:kafka` record shape): base64 key and
 * value, headers as `{name: bytes}` objects. Read leniently: a poison record may be malformed.
 */
export interface SourceRecord extends RecordPosition {
  timestamp?: number;
  timestampType?: string;
  key?: string | null;
  value?: string | null;
  headers?: Array<Record<string, unknown>>;
}

/** The value written to `<topic>.dlq`. */
export interface DeadLetter {
  /** Where the record was; replaying it means producing key, value and headers to this topic. */
  source: {
    topic: string;
    partition: number;
    offset: number;
    timestamp: number | null;
    timestampType: string | null;
  };
  /** The key's bytes as they arrived, base64; null when the record had none. */
  key: string | null;
  /** The value's bytes as they arrived, base64; null for a tombstone. */
  value: string | null;
  /** Each header in order, its bytes base64 (null when what arrived was not a byte array). */
  headers: Array<{ name: string; value: string | null }>;
  /** `<ErrorName>: <message>` of the last failure. */
  error: string;
  errorType: string;
  /** How many times the record was tried (1 for a record that can never be handled). */
  attempts: number;
  /** The function that gave up on it. */
  consumer: string;
  deadLetteredAt: string;
}

const isByteArray = (bytes: unknown): bytes is number[] =>
  Array.isArray(bytes) && bytes.every((byte) => Number.isInteger(byte) && byte >= 0 && byte <= 255);

const headersOf = (record: SourceRecord): DeadLetter['headers'] =>
  (Array.isArray(record.headers) ? record.headers : []).flatMap((header) =>
    Object.entries(typeof header === 'object' && header !== null ? header : {}).map(
      ([name, bytes]) => ({
        name,
        value: isByteArray(bytes) ? Buffer.from(bytes).toString('base64') : null,
      }),
    ),
  );

const describeError = (error: unknown): { errorType: string; message: string } =>
  error instanceof Error
    ? { errorType: error.name, message: error.message }
    : { errorType: typeof error, message: String(error) };

/** The dead letter of `record`: its original bytes, where it was, why and after how many attempts. */
export const deadLetterOf = (
  record: SourceRecord,
  { error, attempts, consumer }: { error: unknown; attempts: number; consumer: string },
  now: Date = new Date(),
): DeadLetter => {
  const { errorType, message } = describeError(error);
  return {
    source: {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: typeof record.timestamp === 'number' ? record.timestamp : null,
      timestampType: typeof record.timestampType === 'string' ? record.timestampType : null,
    },
    key: typeof record.key === 'string' ? record.key : null,
    value: typeof record.value === 'string' ? record.value : null,
    headers: headersOf(record),
    error: `${errorType}: ${message}`,
    errorType,
    attempts,
    consumer,
    deadLetteredAt: now.toISOString(),
  };
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** base64 bytes as text, when they are valid UTF-8. */
const textOf = (base64: string | null): string | undefined => {
  if (base64 === null) return undefined;
  try {
    return utf8.decode(Buffer.from(base64, 'base64'));
  } catch {
    return undefined;
  }
};

/**
 * True for a failure that will happen again however often the record is tried: it does not
 * decode, or its value is not what the topic carries (our ValidationError, a zod schema).
 */
export const isPermanentFailure = (error: unknown): boolean =>
  error instanceof ValidationError || z.isZodError(error);

export interface DeadLetterDeps {
  kafka: KafkaService | undefined;
  redis: RedisService | undefined;
}

export interface DeadLetterPolicy {
  /** The consumer's function name: in the dead letter, and scoping its attempt counts. */
  consumer: string;
  maxAttempts: number;
}

export type Settlement =
  | { outcome: 'dead-lettered'; attempts: number; topic: string }
  /** Report the record failed: Kafka delivers it again. `reason` says why it was not dead-lettered. */
  | { outcome: 'retry'; attempts?: number; reason: string };

/** Counts one more attempt at the record (INCR and EXPIRE, one request); the new count. */
const countAttempt = async (
  redis: RedisService,
  consumer: string,
  record: SourceRecord,
): Promise<number> => {
  const key = attemptsKey(consumer, record);
  const [attempts] = await redis.client
    .pipeline()
    .incr(key)
    .expire(key, ATTEMPTS_TTL_SECONDS)
    .exec<[number, number]>();
  return Number(attempts);
};

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Decides what happens to a record whose handling failed with `error`, and does it:
 * - a permanent failure goes to `<topic>.dlq` at once (attempts: 1);
 * - any other failure is counted in Redis per consumer and record; below `maxAttempts` the
 *   record is retried, at `maxAttempts` it goes to `<topic>.dlq`;
 * - when Redis cannot count (down, not configured) or the dead-letter topic does not take the
 *   record, it is retried: never skipped on a guess.
 * Never throws.
 */
export const settleFailedRecord = async (
  { kafka, redis }: DeadLetterDeps,
  { consumer, maxAttempts }: DeadLetterPolicy,
  record: SourceRecord,
  error: unknown,
): Promise<Settlement> => {
  let attempts = 1;
  if (!isPermanentFailure(error)) {
    if (!redis) {
      return { outcome: 'retry', reason: 'Redis is not configured, so attempts are not counted' };
    }
    try {
      attempts = await countAttempt(redis, consumer, record);
    } catch (cause) {
      return {
        outcome: 'retry',
        reason: `its attempts could not be counted in Redis (${reasonOf(cause)})`,
      };
    }
    if (attempts < maxAttempts) {
      return { outcome: 'retry', attempts, reason: `attempt ${attempts} of ${maxAttempts}` };
    }
  }
  const topic = deadLetterTopicOf(record.topic);
  if (!kafka) {
    return {
      outcome: 'retry',
      attempts,
      reason: `Kafka is not configured, so ${topic} is out of reach`,
    };
  }
  const letter = deadLetterOf(record, { error, attempts, consumer });
  const correlationId = letter.headers.find(({ name }) => name === CORRELATION_ID_HEADER);
  try {
    const key = textOf(letter.key);
    await kafka.send(topic, letter, {
      ...(key === undefined ? {} : { key }),
      correlationId: textOf(correlationId?.value ?? null),
    });
  } catch (cause) {
    return { outcome: 'retry', attempts, reason: `${topic} did not take it (${reasonOf(cause)})` };
  }
  recordMetric('DeadLettered', 1, { topic: record.topic });
  return { outcome: 'dead-lettered', attempts, topic };
};
