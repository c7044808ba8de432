import { RedisUnavailableError } from '../errors.ts';
import type { MemoryStore } from '../redis/memory-store.ts';
import type { RedisService } from '../redis/service.ts';

export interface CacheDeps {
  redis: RedisService | undefined;
  memory: MemoryStore;
}

export type CacheSource = 'redis' | 'memory';

/**
 * Writes to Redis; while Redis is unreachable (or not configured), to the in-memory store.
 * Returns where the value went. A Redis *refusal* (wrong token, bad command) is not an outage
 * and is thrown, not hidden.
 */
export const cacheWithFallback = async (
  { redis, memory }: CacheDeps,
  key: string,
  value: unknown,
  ttlSeconds?: number,
): Promise<CacheSource> => {
  if (redis) {
    try {
      await redis.set(key, value, ttlSeconds === undefined ? {} : { EX: ttlSeconds });
      return 'redis';
    } catch (error) {
      if (!(error instanceof RedisUnavailableError)) throw error;
    }
  }
  memory.set(key, value, ttlSeconds);
  return 'memory';
};

/** Reads from Redis; while Redis is unreachable, from the in-memory store. */
export const getWithFallback = async <T = unknown>(
  { redis, memory }: CacheDeps,
  key: string,
): Promise<{ value: T | null; source: CacheSource }> => {
  if (redis) {
    try {
      return { value: await redis.get<T>(key), source: 'redis' };
    } catch (error) {
      if (!(error instanceof RedisUnavailableError)) throw error;
    }
  }
  return { value: memory.get<T>(key), source: 'memory' };
};
