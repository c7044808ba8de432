import { Redis } from '@upstash/redis';
import type { RedisConfig } from '../config.ts';

/**
 * Builds an `@upstash/redis` client whose failures surface within a bounded time.
 * The client's own default retries network errors 5 times with exponential backoff (about
 * 4 s of sleeping); a fallback that waits for that is no fallback, so retries are few and
 * every request carries its own timeout.
 */
export const createRedisClient = (config: RedisConfig): Redis =>
  new Redis({
    url: config.url,
    token: config.token,
    retry: { retries: config.retries, backoff: (attempt) => 25 * 2 ** attempt },
    signal: () => AbortSignal.timeout(config.requestTimeoutMs),
    keepAlive: true,
  });
