import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis, type Requester } from '@upstash/redis';
import { Redis as DirectRedis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { createRateLimiter, RATE_LIMIT_PREFIX } from '../../lib/auth/rate-limit.ts';
import { type Config, loadConfig } from '../../lib/config.ts';
import { TooManyRequestsError } from '../../lib/errors.ts';
import { createRedisClient } from '../../lib/redis/client.ts';
import { Keyspace } from '../../local/embedded/redis-keyspace.ts';
import { embeddedRequester } from '../../local/embedded/redis-requester.ts';
import { CLOSED_URL, inspector } from '../support/redis.ts';

/**
 * The per-caller limit of the POST routes, through @upstash/ratelimit's own Lua scripts on the
 * real Redis behind the gateway: it refuses with the seconds until the window ends, lets the
 * caller in again after them, keeps users and routes apart, and never turns a Redis outage or
 * embedded Redis into a failed request.
 */

const stack = inject('stack');
const redis = inspector(stack);

const configWith = (env: Record<string, string> = {}, upstashUrl = stack.upstashUrl): Config =>
  loadConfig({
    UPSTASH_REDIS_REST_URL: upstashUrl,
    UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
    AUTH_MODE: 'session',
    RATE_LIMIT_PER_USER: '3',
    RATE_LIMIT_PER_SERVICE: '5',
    RATE_LIMIT_WINDOW_SECONDS: '10',
    ...env,
  });

const limiterFor = (config: Config) =>
  createRateLimiter(
    config,
    config.redis.kind === 'upstash' ? createRedisClient(config.redis) : undefined,
  );

const WINDOW_MS = 10_000;

const user = () => ({ kind: 'user', userId: `user-rl-${randomUUID().slice(0, 8)}` }) as const;

/**
 * A client on the stack's gateway that also records every command it sends (each command of an
 * auto-pipelined batch on its own), to see what @upstash/ratelimit really sends.
 */
const recordingClient = () => {
  const sent: unknown[][] = [];
  const http = (
    new Redis({ url: stack.upstashUrl, token: stack.upstashToken }) as unknown as {
      client: Requester;
    }
  ).client;
  const requester: Requester = {
    request: (request) => {
      const commands = request.path?.includes('pipeline') ? request.body : [request.body];
      sent.push(...(commands as unknown[][]));
      return http.request(request);
    },
  };
  return { redis: new Redis(requester), sent };
};

/** Whether each call passed, or the seconds a refusal says to wait. */
const attempt = async (check: () => Promise<void>): Promise<'passed' | number> => {
  try {
    await check();
    return 'passed';
  } catch (error) {
    if (error instanceof TooManyRequestsError) return error.retryAfterSeconds;
    throw error;
  }
};

/**
 * Runs `scenario` inside one fixed window of `windowMs`: when a window ended while it ran (its
 * counts then split over two windows), it runs again, at most three times. Each run must use
 * callers of its own (the scenario creates them), or the next run starts with the counts of the
 * last. The windows are 10 s, well beyond a scenario's few requests even on a loaded machine.
 */
const inOneWindow = async <T>(windowMs: number, scenario: () => Promise<T>): Promise<T> => {
  for (let run = 1; ; run += 1) {
    const window = Math.floor(Date.now() / windowMs);
    const result = await scenario();
    if (Math.floor(Date.now() / windowMs) === window || run === 3) return result;
  }
};

describe('the POST rate limit on real Redis', () => {
  it('refuses the request over the limit with the seconds to wait, then lets the caller in again', async () => {
    const limiter = limiterFor(configWith());

    const { alice, outcomes } = await inOneWindow(WINDOW_MS, async () => {
      const alice = user();
      const outcomes: Array<'passed' | number> = [];
      for (let i = 0; i < 4; i += 1) {
        outcomes.push(await attempt(() => limiter.check(alice, 'POST /orders')));
      }
      return { alice, outcomes };
    });

    expect(outcomes.slice(0, 3)).toEqual(['passed', 'passed', 'passed']);
    const retryAfter = outcomes[3] as number;
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_MS / 1_000);
    const keys = await redis.keys(`${RATE_LIMIT_PREFIX}:orders:user:${alice.userId}:*`);
    expect(keys).toHaveLength(1);
    expect(await redis.pttl(keys[0] as string)).toBeLessThanOrEqual(WINDOW_MS);

    // Retry-After is the contract under test: waiting exactly that long must be enough.
    await delay(retryAfter * 1_000);
    expect(await attempt(() => limiter.check(alice, 'POST /orders'))).toBe('passed');
  });

  it('counts each user, each route and the service key apart', async () => {
    const limiter = limiterFor(
      configWith({ RATE_LIMIT_PER_USER: '1', RATE_LIMIT_PER_SERVICE: '2' }),
    );

    const outcomes = await inOneWindow(WINDOW_MS, async () => {
      const [alice, bob] = [user(), user()];
      return [
        await attempt(() => limiter.check(alice, 'POST /orders')),
        await attempt(() => limiter.check(alice, 'POST /orders')),
        await attempt(() => limiter.check(alice, 'POST /analytics/events')),
        await attempt(() => limiter.check(bob, 'POST /orders')),
        await attempt(() => limiter.check({ kind: 'service' }, 'POST /analytics/events')),
      ];
    });

    expect(outcomes[0]).toBe('passed');
    expect(outcomes[1]).toEqual(expect.any(Number));
    expect(outcomes.slice(2)).toEqual(['passed', 'passed', 'passed']);
  });

  it("runs @upstash/ratelimit's own scripts, first line #!lua flags=allow-key-locking, through the gateway: EVAL once, then EVALSHA", async () => {
    const { redis: recorded, sent } = recordingClient();
    const limiter = createRateLimiter(configWith({ RATE_LIMIT_PER_USER: '2' }), recorded);

    const outcomes = await inOneWindow(WINDOW_MS, async () => {
      const alice = user();
      return [
        await attempt(() => limiter.check(alice, 'POST /orders')),
        await attempt(() => limiter.check(alice, 'POST /orders')),
        await attempt(() => limiter.check(alice, 'POST /orders')),
      ];
    });

    expect(outcomes.slice(0, 2)).toEqual(['passed', 'passed']);
    expect(outcomes[2]).toEqual(expect.any(Number));
    const scripts = sent.filter(([name]) => /^eval/i.test(String(name)));
    const evals = scripts.filter(([name]) => String(name).toLowerCase() === 'eval');
    const shas = [
      ...new Set(
        scripts.filter(([name]) => String(name).toLowerCase() === 'evalsha').map(([, sha]) => sha),
      ),
    ] as string[];
    // The first EVALSHA finds the script when an earlier test taught this gateway; at most one EVAL.
    expect(evals.length).toBeLessThanOrEqual(1);
    for (const [, text] of evals) expect(String(text)).toMatch(/^#!lua flags=allow-key-locking\n/);
    expect(shas).toHaveLength(1);
    // Redis itself never holds the library's text (it refuses the flag): what runs is the
    // gateway's rewrite, found through the library's own SHA1.
    const direct = new DirectRedis(stack.redisUrl);
    try {
      expect(await direct.script('EXISTS', shas[0] as string)).toEqual([0]);
    } finally {
      direct.disconnect();
    }
    expect(await recorded.scriptExists(shas[0] as string)).toEqual([1]);
  });

  it('fails open when Redis is unreachable: the request passes at once instead of a 5xx', async () => {
    const limiter = limiterFor(configWith({}, CLOSED_URL));
    const started = performance.now();

    for (let i = 0; i < 5; i += 1) {
      expect(await attempt(() => limiter.check(user(), 'POST /orders'))).toBe('passed');
    }

    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('is skipped on embedded Redis, which cannot run its Lua, instead of crashing', async () => {
    const embedded = new Redis(embeddedRequester(new Keyspace()));
    // What would happen without the skip: the library's script is not one embedded Redis knows.
    const raw = new Ratelimit({ redis: embedded, limiter: Ratelimit.fixedWindow(1, '4 s') });
    await expect(raw.limit('x')).rejects.toThrow();

    const limiter = createRateLimiter(
      loadConfig({ AUTH_MODE: 'session', NARAD_EMBEDDED: 'redis', RATE_LIMIT_PER_USER: '1' }),
      embedded,
    );
    const alice = user();
    expect(await attempt(() => limiter.check(alice, 'POST /orders'))).toBe('passed');
    expect(await attempt(() => limiter.check(alice, 'POST /orders'))).toBe('passed');
  });

  it('does nothing with AUTH_MODE=none, where no caller is known', async () => {
    const limiter = limiterFor(configWith({ AUTH_MODE: 'none', RATE_LIMIT_PER_USER: '1' }));
    for (let i = 0; i < 3; i += 1) {
      expect(await attempt(() => limiter.check({ kind: 'anonymous' }, 'POST /orders'))).toBe(
        'passed',
      );
    }
  });
});
