import type { Redis } from '@upstash/redis';
import { RedisUnavailableError } from '../errors.ts';
import { classifyRedisError } from './errors.ts';
import { checkRedis, type RedisHealth } from './health.ts';

export interface SetOptions {
  /** Time to live in seconds. */
  EX?: number;
}

export interface RedisService {
  /** The raw `@upstash/redis` client, for lists, sets, counters, pipelines and transactions. */
  client: Redis;
  /** The value at `key` (JSON is parsed back), or null. */
  get<T = unknown>(key: string): Promise<T | null>;
  set(key: string, value: unknown, options?: SetOptions): Promise<void>;
  /** How many of the keys existed. */
  del(...keys: string[]): Promise<number>;
  healthCheck(): Promise<RedisHealth>;
  /** What the last call found: true after a success, false after the endpoint was unreachable. */
  isConnected(): boolean;
  /** The longest one request may take: what a caller keeps back for a write it must still make. */
  requestTimeoutMs: number;
}

/**
 * The Redis service of one container. Every call fails with RedisUnavailableError (reach) or
 * RedisCommandError (refusal): never swallowed, so a fallback above it can take over.
 */
export const createRedisService = (
  client: Redis,
  { requestTimeoutMs }: { requestTimeoutMs: number },
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
    get: <T>(key: string) => run(() => client.get<T>(key)),
    async set(key, value, options = {}) {
      // @upstash/redis spells the option `ex`; an upper-case `EX` would be dropped silently.
      await run(() =>
        options.EX === undefined
          ? client.set(key, value)
          : client.set(key, value, { ex: options.EX }),
      );
    },
    del: (...keys) => run(() => client.del(...keys)),
    async healthCheck() {
      const health = await checkRedis(client);
      connected = health.status === 'connected';
      return health;
    },
    isConnected: () => connected,
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
