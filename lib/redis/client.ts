import { Redis, type Requester } from '@upstash/redis';
import type { RedisConfig } from '../config.ts';
import { budgetMs } from '../deadline.ts';
import { createRedisService, type RedisService } from './service.ts';

/**
 * Builds an `@upstash/redis` client whose failures surface within a bounded time.
 * The client's own default retries network errors 5 times with exponential backoff (about
 * 4 s of sleeping); a fallback that waits for that is no fallback, so retries are few and
 * every request carries its own timeout: the profile's, cut to what is left of the invocation
 * (deadline.ts). A timed-out request may still have been applied by Redis: a caller that must
 * know retries it idempotently (the order's Idempotency-Key), it never assumes either way.
 * `parseReplies: false` leaves replies as Redis sent them (no JSON parsing).
 */
export const createRedisClient = (
  config: RedisConfig,
  { parseReplies = true }: { parseReplies?: boolean } = {},
): Redis =>
  new Redis({
    url: config.url,
    token: config.token,
    retry: { retries: config.retries, backoff: (attempt) => 25 * 2 ** attempt },
    signal: () => AbortSignal.timeout(budgetMs(config.requestTimeoutMs)),
    keepAlive: true,
    automaticDeserialization: parseReplies,
  });

/**
 * A client over `requester` that leaves replies as Redis sent them. `@upstash/redis` takes no
 * options beside a requester, so the option is set where its constructor keeps options.
 */
class UnparsedRedis extends Redis {
  constructor(requester: Requester) {
    super(requester);
    this.opts = { ...this.opts, automaticDeserialization: false };
  }
}

/** The Redis service over Upstash REST for `config`. */
export const createRedisServiceFor = (config: RedisConfig): RedisService =>
  createRedisService(createRedisClient(config), {
    requestTimeoutMs: config.requestTimeoutMs,
    strings: createRedisClient(config, { parseReplies: false }),
  });

/** The Redis service over a requester (the embedded store), whose requests take no time to wait for. */
export const createRedisServiceOver = (requester: Requester): RedisService =>
  createRedisService(new Redis(requester), {
    requestTimeoutMs: 0,
    strings: new UnparsedRedis(requester),
  });
