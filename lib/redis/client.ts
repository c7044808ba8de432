import { Redis } from '@upstash/redis';
import type { RedisConfig } from '../config.ts';
import { budgetMs } from '../deadline.ts';

/**
 * Builds an `@upstash/redis` client whose failures surface within a bounded time.
 * The client's own default retries network errors 5 times with exponential backoff (about
 * 4 s of sleeping); a fallback that waits for that is no fallback, so retries are few and
 * every request carries its own timeout: the profile's, cut to what is left of the invocation
 * (deadline.ts). A timed-out request may still have been applied by Redis: a caller that must
 * know retries it idempotently (the order's Idempotency-Key), it never assumes either way.
 */
export const createRedisClient = (config: RedisConfig): Redis =>
  new Redis({
    url: config.url,
    token: config.token,
    retry: { retries: config.retries, backoff: (attempt) => 25 * 2 ** attempt },
    signal: () => AbortSignal.timeout(budgetMs(config.requestTimeoutMs)),
    keepAlive: true,
  });
