import type { Requester, UpstashRequest } from '@upstash/redis';
import { describe, expect, it } from 'vitest';
import { MAX_CLOCK_SKEW_MS } from '../../lib/auth/sessions.ts';
import { RedisCommandError, RedisUnavailableError } from '../../lib/errors.ts';
import type { KafkaRecord } from '../../lib/lambda/kafka-event.ts';
import { createRedisServiceOver } from '../../lib/redis/client.ts';
import { applyUserEventPlans, userEventBatches } from '../../lib/users/user-events.ts';
import {
  MAX_SESSION_DATA_BYTES,
  planUserEvent,
  type UserEventPlan,
} from '../../lib/users/users.ts';
import { Keyspace } from '../../local/embedded/redis-keyspace.ts';
import { embeddedRequester } from '../../local/embedded/redis-requester.ts';

const NOW = Date.parse('2026-12-02T12:00:00.000Z');
const SESSION_ID = 'sess_3JfQ9wz1Yv8Lk2Pm';

const login = (overrides: Record<string, unknown> = {}) => ({
  type: 'USER_LOGGED_IN',
  userId: 'user-42',
  sessionId: SESSION_ID,
  timestamp: new Date(NOW).toISOString(),
  ...overrides,
});

/** The session a plan stores, its JSON text read back. */
const stored = (plan: UserEventPlan) =>
  plan.effect === 'session-stored'
    ? { key: plan.key, value: JSON.parse(plan.session), ttlSeconds: plan.ttlSeconds }
    : plan;

/** Why `event` is refused (it fails the test when it is not). */
const refusal = (event: unknown): string => {
  const plan = planUserEvent(event, NOW);
  if (plan.effect !== 'refused') throw new Error(`not refused: ${JSON.stringify(plan)}`);
  return plan.problem;
};

describe('a USER_LOGGED_IN event', () => {
  it('is refused when its session id could never sign in', () => {
    expect(refusal(login({ sessionId: 'short' }))).toMatch(/sessionId.*16-128 characters/s);
  });

  it('stores the session with its sessionData for one hour when the login just happened', () => {
    const plan = planUserEvent(login({ sessionData: { role: 'editor', device: 'ios' } }), NOW);

    expect(stored(plan)).toEqual({
      key: `session:${SESSION_ID}`,
      value: {
        userId: 'user-42',
        createdAt: '2026-12-02T12:00:00.000Z',
        sessionData: { role: 'editor', device: 'ios' },
      },
      ttlSeconds: 3600,
    });
  });

  it('takes the login time as epoch milliseconds too', () => {
    const plan = planUserEvent(login({ timestamp: NOW - 60_000 }), NOW);

    expect(stored(plan)).toMatchObject({
      value: { createdAt: '2026-12-02T11:59:00.000Z' },
      ttlSeconds: 3540,
    });
  });

  it('is refused without a timestamp, since the session could not be aged from its login', () => {
    const { timestamp: _none, ...event } = login();
    const missing = refusal(event);
    const unreadable = refusal(login({ timestamp: 'yesterday' }));

    expect(missing).toMatch(/"timestamp"/);
    expect(missing).toMatch(/is required: the time of the login/);
    expect(unreadable).toMatch(/"timestamp"/);
    expect(unreadable).toMatch(/must be an ISO 8601 date-time or epoch milliseconds/);
  });

  it.each([-1e16, 1e16, 8.64e15 + 1])(
    'refuses at once a login time no date can hold (%d), instead of failing on it',
    (timestamp) => {
      expect(refusal(login({ timestamp }))).toMatch(
        /must be an ISO 8601 date-time or epoch milliseconds/,
      );
    },
  );

  it('ages the session from the login, not from when the event arrived', () => {
    const plan = planUserEvent(login({ timestamp: NOW - 20 * 60_000 }), NOW);

    expect(stored(plan)).toMatchObject({ ttlSeconds: 2400 });
  });

  it('stores nothing when replayed after its hour (a replay of user.events revives no session)', () => {
    expect(planUserEvent(login({ timestamp: NOW - 3_600_000 }), NOW)).toEqual({
      effect: 'session-expired',
    });
  });

  it('is refused with a timestamp in the future beyond the clock skew, and kept to one hour within it', () => {
    const plan = planUserEvent(login({ timestamp: NOW + MAX_CLOCK_SKEW_MS }), NOW);

    expect(stored(plan)).toMatchObject({ ttlSeconds: 3600 });
    expect(refusal(login({ timestamp: NOW + MAX_CLOCK_SKEW_MS + 1_000 }))).toMatch(
      /301 s in the future.*clock/,
    );
  });

  it('is refused with sessionData that is not an object or larger than the limit', () => {
    expect(refusal(login({ sessionData: 'admin' }))).toMatch(/sessionData.*object/s);
    const big = { blob: 'x'.repeat(MAX_SESSION_DATA_BYTES) };
    expect(refusal(login({ sessionData: big }))).toMatch(/sessionData.*4096 bytes/s);
  });
});

describe('a USER_UPDATED event', () => {
  it("deletes the user's cached profile and preferences", () => {
    expect(planUserEvent({ type: 'USER_UPDATED', userId: 'user-42' }, NOW)).toEqual({
      effect: 'invalidated',
      keys: ['user:user-42:profile', 'user:user-42:preferences'],
    });
  });

  it('is refused without a userId, or with one no key may hold', () => {
    expect(refusal({ type: 'USER_UPDATED' })).toMatch(/"userId"/);
    expect(refusal({ type: 'USER_UPDATED', userId: 'a:b' })).toMatch(/userId must be 1-128/);
  });
});

describe('any other value of user.events', () => {
  it('changes nothing and is not refused', () => {
    for (const value of [{ type: 'USER_ACTION', userId: 'user-42' }, { type: 7 }, 'text', null])
      expect(planUserEvent(value, NOW)).toEqual({ effect: 'ignored' });
  });
});

// --- the batch -------------------------------------------------------------------------------

/**
 * The Redis service over the embedded store (the same @upstash/redis client as against
 * Upstash), recording each request's commands; `answer` may replace the store's reply.
 */
const recordingRedis = (answer?: (request: UpstashRequest) => unknown) => {
  const store = embeddedRequester(new Keyspace(() => NOW));
  const requests: Array<{ path: string; commands: unknown[][] }> = [];
  const requester: Requester = {
    request: async (request) => {
      const path = request.path?.join('/') ?? '';
      const commands = (path === 'pipeline' ? request.body : [request.body]) as unknown[][];
      requests.push({ path, commands });
      return (answer ? answer(request) : store.request(request)) as never;
    },
  };
  return { redis: createRedisServiceOver(requester), requests };
};

const planOf = (value: unknown) => planUserEvent(value, NOW);

describe('applyUserEventPlans', () => {
  it('sends every command of the batch in ONE pipeline request, in the order given', async () => {
    const { redis, requests } = recordingRedis();
    const plans = [
      planOf(login({ timestamp: NOW - 60_000 })),
      planOf({ type: 'USER_ACTION', userId: 'user-42' }),
      planOf({ type: 'USER_UPDATED', userId: 'user-42' }),
      planOf(login({ timestamp: NOW - 3_600_000, sessionId: 'sess_expired_0000001' })),
      planOf({ type: 'USER_UPDATED', userId: 'user-7' }),
    ];

    const sent = await applyUserEventPlans(redis, plans);

    expect(sent).toBe(3);
    expect(requests).toEqual([
      {
        path: 'pipeline',
        commands: [
          ['set', `session:${SESSION_ID}`, expect.stringContaining('"user-42"'), 'ex', 3540],
          ['del', 'user:user-42:profile', 'user:user-42:preferences'],
          ['del', 'user:user-7:profile', 'user:user-7:preferences'],
        ],
      },
    ]);
  });

  it('makes no request when nothing in the batch changes the cache', async () => {
    const { redis, requests } = recordingRedis();

    const sent = await applyUserEventPlans(redis, [
      planOf({ type: 'USER_ACTION', userId: 'user-42' }),
      planOf(login({ timestamp: NOW - 3_600_000 })),
    ]);

    expect(sent).toBe(0);
    expect(requests).toEqual([]);
  });

  it('throws a RedisCommandError when Redis refuses one command of the pipeline', async () => {
    const { redis } = recordingRedis(() => [
      { result: 'OK' },
      { error: 'OOM command not allowed when used memory > maxmemory' },
    ]);
    const plans = [planOf(login()), planOf({ type: 'USER_UPDATED', userId: 'user-42' })];

    const error = await applyUserEventPlans(redis, plans).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(RedisCommandError);
    expect(String(error)).toMatch(/Command 2 \[ del \] failed: OOM/);
  });

  it('throws a RedisUnavailableError when Redis cannot be reached', async () => {
    const { redis } = recordingRedis(() => {
      throw new TypeError('fetch failed');
    });

    await expect(applyUserEventPlans(redis, [planOf(login())])).rejects.toBeInstanceOf(
      RedisUnavailableError,
    );
  });

  it('refuses a refused event instead of leaving it out unnoticed', async () => {
    const { redis, requests } = recordingRedis();

    await expect(
      applyUserEventPlans(redis, [planOf(login()), planOf({ type: 'USER_UPDATED' })]),
    ).rejects.toThrow(/a refused user event reached the batch/);
    expect(requests).toEqual([]);
  });
});

describe('userEventBatches', () => {
  const record = (offset: number, value: unknown) => ({ offset, value }) as KafkaRecord;

  it('plans each record once: the plan problemOf made is the one apply sends', async () => {
    const { redis, requests } = recordingRedis();
    let clockReads = 0;
    const batches = userEventBatches(() => {
      clockReads += 1;
      return NOW;
    });
    const records = [
      record(0, { type: 'USER_UPDATED', userId: 'user-42' }),
      record(1, login()),
      record(2, { type: 'USER_UPDATED' }),
    ];

    const problems = records.map((one) => batches.problemOf(one.value, one));
    await batches.apply(redis, [
      {
        cluster: 'c',
        topic: 'user.events',
        partition: 0,
        firstOffset: 0,
        lastOffset: 2,
        records: records.slice(0, 2),
      },
    ]);

    expect(problems).toEqual([undefined, undefined, expect.stringMatching(/"userId"/)]);
    expect(clockReads).toBe(3);
    expect(requests.map(({ commands }) => commands.map(([name]) => name))).toEqual([
      ['del', 'set'],
    ]);
  });
});
