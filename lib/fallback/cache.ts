import { RedisUnavailableError, ValidationError } from '../errors.ts';
import { recordMetric } from '../metrics.ts';
import type { MemoryStore } from '../redis/memory-store.ts';
import type { RedisService } from '../redis/service.ts';

export interface CacheDeps {
  redis: RedisService | undefined;
  memory: MemoryStore;
}

export type CacheSource = 'redis' | 'memory';

/** The design's default time to live of a cached value: 5 minutes. */
export const DEFAULT_CACHE_TTL_SECONDS = 300;

/** What Redis holds for `value`: a string as it is, anything else as its JSON text (RedisService.set). */
const asStored = (value: unknown): string =>
  typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null');

/**
 * The design's `cacheWithFallback(key, value, ttlSeconds = 300)`: writes to Redis with the TTL;
 * while Redis is unreachable (or not configured), to the in-memory store with the same TTL.
 * Returns where the value went. A Redis *refusal* (wrong token, bad command) is not an outage
 * and is thrown, not hidden. The memory store keeps what Redis would hold (the string), so a
 * read answers the same from either.
 * @throws ValidationError when `ttlSeconds` is not a whole number of seconds above 0.
 */
export const cacheWithFallback = async (
  { redis, memory }: CacheDeps,
  key: string,
  value: unknown,
  ttlSeconds: number = DEFAULT_CACHE_TTL_SECONDS,
): Promise<CacheSource> => {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new ValidationError(
      `ttlSeconds must be a whole number of seconds above 0 (got ${ttlSeconds})`,
    );
  }
  if (redis) {
    try {
      await redis.set(key, value, { EX: ttlSeconds });
      return 'redis';
    } catch (error) {
      if (!(error instanceof RedisUnavailableError)) throw error;
    }
  }
  memory.set(key, asStored(value), ttlSeconds);
  return 'memory';
};

/**
 * The design's `getWithFallback(key)`: the string `redis.get` answers; while Redis is
 * unreachable, what the in-memory store holds.
 */
export const getWithFallback = async (
  { redis, memory }: CacheDeps,
  key: string,
): Promise<{ value: string | null; source: CacheSource }> => {
  if (redis) {
    try {
      return { value: await redis.get(key), source: 'redis' };
    } catch (error) {
      if (!(error instanceof RedisUnavailableError)) throw error;
    }
  }
  recordMetric('CacheMemoryServes');
  return { value: memory.get<string>(key), source: 'memory' };
};
