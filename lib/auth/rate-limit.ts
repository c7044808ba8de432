import { Ratelimit } from '@upstash/ratelimit';
import type { Redis } from '@upstash/redis';
import type { Config } from '../config.ts';
import { RedisCommandError, TooManyRequestsError } from '../errors.ts';
import { briefError, logger } from '../log.ts';
import { recordMetric } from '../metrics.ts';
import { classifyRedisError } from '../redis/errors.ts';
import type { Principal } from './principal.ts';

/** The POST routes, each with its own budget per caller. */
export type LimitedRoute = 'POST /orders' | 'POST /analytics/events';

const ROUTE_KEYS: Record<LimitedRoute, string> = {
  'POST /orders': 'orders',
  'POST /analytics/events': 'analytics-events',
};

/** Redis keys: `ratelimit:<route>:user:<userId>:<window>`, `ratelimit:<route>:service:<window>`. */
export const RATE_LIMIT_PREFIX = 'ratelimit';

/** What /health reports about the limit. */
export type RateLimitStatus =
  | {
      status: 'enabled';
      perUser: number;
      perService: number;
      windowSeconds: number;
      onRedisFailure: 'allow';
    }
  | { status: 'skipped'; reason: string };

/** Whether this configuration limits POST requests, and why not when it does not. */
export const rateLimitStatus = (
  config: Pick<Config, 'auth' | 'redis' | 'rateLimit'>,
): RateLimitStatus => {
  if (config.auth.mode === 'none') {
    return { status: 'skipped', reason: 'AUTH_MODE=none: no signed-in caller to count' };
  }
  if (config.redis.kind === 'embedded') {
    return {
      status: 'skipped',
      reason:
        "embedded Redis runs only this project's scripts (lib/redis/scripts.ts), not @upstash/ratelimit's Lua",
    };
  }
  if (config.redis.kind === 'none') {
    return { status: 'skipped', reason: 'Redis is not configured' };
  }
  const { userRequests, serviceRequests, windowSeconds } = config.rateLimit;
  if (userRequests === 0 && serviceRequests === 0) {
    return { status: 'skipped', reason: 'RATE_LIMIT_PER_USER=0 and RATE_LIMIT_PER_SERVICE=0' };
  }
  return {
    status: 'enabled',
    perUser: userRequests,
    perService: serviceRequests,
    windowSeconds,
    onRedisFailure: 'allow',
  };
};

export interface RateLimiter {
  /**
   * Counts one request of `principal` on `route`.
   * @throws TooManyRequestsError (429) with the seconds until the window resets.
   */
  check(principal: Principal, route: LimitedRoute): Promise<void>;
}

const unlimited: RateLimiter = { check: async () => undefined };

/**
 * Fixed windows rather than sliding ones: the window's end is exactly when the caller may
 * retry, so Retry-After is true (a sliding window still refuses for a while after the reset it
 * reports). The price: up to twice the limit across a window boundary.
 */
const limiterFor = (redis: Redis, requests: number, windowSeconds: number, timeoutMs: number) =>
  requests === 0
    ? undefined
    : new Ratelimit({
        redis,
        limiter: Ratelimit.fixedWindow(requests, `${windowSeconds} s`),
        prefix: RATE_LIMIT_PREFIX,
        // Fail-open on a slow Redis: after this long the request passes (reason 'timeout').
        timeout: timeoutMs,
        // Module scope, so a warm container refuses a caller it saw exceed the limit without a
        // Redis request until the window ends.
        ephemeralCache: new Map(),
        analytics: false,
      });

/**
 * The limiter of a container. Fail-open: when Redis is slow or unreachable the request passes
 * and a warning is logged. The limit protects capacity, not data; refusing every POST during a
 * Redis blip would turn it into an outage, and the writes that need Redis fail on their own
 * with a 503. A request over the limit is refused with 429 and Retry-After.
 */
export const createRateLimiter = (
  config: Pick<Config, 'auth' | 'redis' | 'rateLimit'>,
  redis: Redis | undefined,
): RateLimiter => {
  const status = rateLimitStatus(config);
  if (status.status !== 'enabled' || !redis || config.redis.kind !== 'upstash') return unlimited;
  const timeoutMs = config.redis.requestTimeoutMs;
  const users = limiterFor(redis, status.perUser, status.windowSeconds, timeoutMs);
  const service = limiterFor(redis, status.perService, status.windowSeconds, timeoutMs);
  return {
    async check(principal, route) {
      if (principal.kind === 'anonymous') return;
      const limiter = principal.kind === 'user' ? users : service;
      if (!limiter) return;
      const who = principal.kind === 'user' ? `user:${principal.userId}` : 'service';
      const identifier = `${ROUTE_KEYS[route]}:${who}`;
      let result: Awaited<ReturnType<Ratelimit['limit']>>;
      try {
        result = await limiter.limit(identifier);
      } catch (thrown) {
        // Unreachable is an outage (warn); a refused script is a defect that leaves the limit
        // off until fixed, so it is logged as an error. The request passes either way.
        const error = classifyRedisError(thrown);
        const level = error instanceof RedisCommandError ? 'error' : 'warn';
        logger[level]('rate limit not checked: Redis failed, the request passes (fail-open)', {
          route,
          error: briefError(error),
        });
        return;
      }
      if (result.reason === 'timeout') {
        logger.warn('rate limit not checked: Redis timed out, the request passes (fail-open)', {
          route,
          timeout_ms: timeoutMs,
        });
        return;
      }
      if (result.success) return;
      const retryAfterSeconds = Math.max(1, Math.ceil((result.reset - Date.now()) / 1000));
      recordMetric('RateLimited');
      throw new TooManyRequestsError(
        `Too many requests: at most ${result.limit} ${route} per ${status.windowSeconds} s for this ${principal.kind === 'user' ? 'user' : 'service key'}; retry in ${retryAfterSeconds} s`,
        retryAfterSeconds,
      );
    },
  };
};

const limiters = new WeakMap<object, RateLimiter>();

/** The limiter of these services, built once per container (its cache must outlive a request). */
export const rateLimiterOf = (services: {
  config: Pick<Config, 'auth' | 'redis' | 'rateLimit'>;
  redis: { client: Redis } | undefined;
}): RateLimiter => {
  let limiter = limiters.get(services);
  if (!limiter) {
    limiter = createRateLimiter(services.config, services.redis?.client);
    limiters.set(services, limiter);
  }
  return limiter;
};
