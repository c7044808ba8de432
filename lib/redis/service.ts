import type { Redis } from '@upstash/redis';
import { RedisUnavailableError, ValidationError } from '../errors.ts';
import { classifyRedisError } from './errors.ts';
import { checkRedis, type RedisHealth } from './health.ts';

export interface SetOptions {
  /** Time to live in seconds (the design's `{ EX: 600 }`). */
  EX?: number;
}

/**
 * The design document's `redisService`, over HTTP. `get` and `set` keep Redis's own string
 * semantics, as the document's callers use them (`set(key, JSON.stringify(user), {EX: 600})`,
 * then `JSON.parse(await get(key))`): a string is stored as it is and read back as the same
 * string. `@upstash/redis` on its own would parse what it reads (`'123'` comes back as 123,
 * `'null'` as null, JSON text as an object, so the document's JSON.parse would throw); `client`
 * keeps that behaviour for the project's structured values, `get`/`set` do not.
 */
export interface RedisService {
  /** The raw `@upstash/redis` client, for lists, sets, counters, pipelines and transactions. */
  client: Redis;
  /** The raw client, as the design's `redisService.getClient()`. */
  getClient(): Redis;
  /**
   * The same Redis through a client that leaves replies as Redis sent them: for writes whose
   * replies are OK or counts. `client` tries JSON.parse on every reply and catches the throw
   * for "OK", which costs more than the rest of a consumer's work on a record.
   */
  unparsed: Redis;
  /** The string stored at `key`, exactly as stored, or null. */
  get(key: string): Promise<string | null>;
  /** Stores `value`: a string as it is, anything else as its JSON text. */
  set(key: string, value: unknown, options?: SetOptions): Promise<'OK'>;
  /** How many of the keys existed. */
  del(...keys: string[]): Promise<number>;
  healthCheck(): Promise<RedisHealth>;
  /**
   * One PING: HTTP has no connection to open, so this checks the endpoint answers (and makes
   * `isConnected` true).
   * @throws RedisUnavailableError / RedisCommandError as any call.
   */
  connect(): Promise<void>;
  /** Nothing to close over HTTP: `isConnected` turns false, as after the design's disconnect. */
  disconnect(): Promise<void>;
  /** What the last call found: true after a success, false before any and after the endpoint was unreachable. */
  readonly isConnected: boolean;
  /** The longest one request may take: what a caller keeps back for a write it must still make. */
  requestTimeoutMs: number;
}

export interface RedisServiceOptions {
  requestTimeoutMs: number;
  /**
   * The same Redis through a client that leaves replies as they are
   * (`automaticDeserialization: false`): what `get` reads with.
   */
  strings: Redis;
}

const isPositiveInteger = (value: unknown) =>
  typeof value === 'number' && Number.isInteger(value) && value > 0;

/**
 * The Redis service of one container. Every call fails with RedisUnavailableError (reach) or
 * RedisCommandError (refusal): never swallowed, so a fallback above it can take over.
 */
export const createRedisService = (
  client: Redis,
  { requestTimeoutMs, strings }: RedisServiceOptions,
): RedisService => {
  let connected = false;
  const run = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      const result = await call();
      connected = true;
      return result;
    } catch (error) {
      const failure = classifyRedisError(error);
      if (failure.name === 'RedisUnavailableError') connected = false;
      throw failure;
    }
  };
  return {
    client,
    getClient: () => client,
    unparsed: strings,
    get: (key) => run(async () => ((await strings.get<unknown>(key)) ?? null) as string | null),
    async set(key, value, options = {}) {
      if (options.EX !== undefined && !isPositiveInteger(options.EX)) {
        throw new ValidationError(
          `EX must be a whole number of seconds above 0 (got ${options.EX})`,
        );
      }
      // @upstash/redis spells the option `ex`; an upper-case `EX` would be dropped silently.
      // It sends a string as it is and anything else as JSON.stringify would write it; the
      // reply (OK) needs no parsing.
      await run(() =>
        options.EX === undefined
          ? strings.set(key, value)
          : strings.set(key, value, { ex: options.EX }),
      );
      return 'OK';
    },
    del: (...keys) => run(() => strings.del(...keys)),
    async healthCheck() {
      const health = await checkRedis(client);
      connected = health.status === 'connected';
      return health;
    },
    async connect() {
      await run(() => client.ping());
    },
    async disconnect() {
      // Nothing to close over HTTP; the next call finds out again.
      connected = false;
    },
    get isConnected() {
      return connected;
    },
    requestTimeoutMs,
  };
};

/**
 * The Redis service of `services`, for code that cannot work without it.
 * @throws RedisUnavailableError naming `who` when Redis is not configured.
 */
export const requireRedis = (services: { redis: RedisService | undefined }, who: string) => {
  if (!services.redis)
    throw new RedisUnavailableError(`Redis is not configured; ${who} need Redis`);
  return services.redis;
};
