import type { Requester } from '@upstash/redis';
import type { Message } from 'kafkajs';
import { ConfigError } from './errors.ts';
import type { RedisScript } from './redis/scripts.ts';

/**
 * The seam between the functions and embedded mode (development only). With NARAD_EMBEDDED, Redis
 * and Kafka run in memory inside serverless offline's process; that code lives in
 * local/embedded/, which no function bundle holds. `npm start` installs it in offline's process
 * before any function loads (local/embedded/install.ts), and the functions find it here. It
 * sits on `globalThis` because under `--useInProcess` every function runs from its own bundle,
 * with its own copy of this module: one installation serves them all.
 */

/** Where an appended record landed. */
export interface AppendedRecord {
  partition: number;
  offset: number;
}

/** The write side of the in-memory Kafka log. */
export interface KafkaLogWriter {
  /** Appends kafkajs messages to `topic` (created on first use), each on its key's partition. */
  append(topic: string, messages: Message[]): AppendedRecord[];
}

/** What embedded mode provides; the functions wrap each in their usual service. */
export interface EmbeddedParts {
  /**
   * An `@upstash/redis` requester that answers from the in-memory keyspace of this process.
   * EVAL runs the JavaScript mirror `findScript` gives: the caller's, since each function
   * bundle declares its scripts in its own copy of lib/redis/scripts.ts.
   */
  redisRequester(findScript: (luaOrSha: string) => RedisScript<unknown> | undefined): Requester;
  /**
   * The in-memory Kafka log of this process; the first call also starts its delivery to the
   * mapped consumers (where they are is the dev runner's setting, read by local/embedded/).
   */
  kafkaLog(): KafkaLogWriter;
}

const PARTS = Symbol.for('narad.embedded.parts');

type Holder = { [PARTS]?: EmbeddedParts };

/** Makes `parts` the embedded parts of every function of this process. */
export const installEmbeddedParts = (parts: EmbeddedParts): void => {
  (globalThis as Holder)[PARTS] = parts;
};

/**
 * The embedded parts installed in this process.
 * @throws ConfigError when none are: embedded mode runs only under `npm start`.
 */
export const embeddedParts = (): EmbeddedParts => {
  const parts = (globalThis as Holder)[PARTS];
  if (parts === undefined) {
    throw new ConfigError(
      'Invalid configuration: NARAD_EMBEDDED asks for in-memory Redis or Kafka, which only `npm start` provides (it installs local/embedded/install.ts in serverless offline). Elsewhere, set KAFKA_BROKERS / UPSTASH_REDIS_REST_URL instead.',
      'NARAD_EMBEDDED',
    );
  }
  return parts;
};
