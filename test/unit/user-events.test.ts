import { describe, expect, it } from 'vitest';
import { MAX_CLOCK_SKEW_MS } from '../../lib/auth/sessions.ts';
import { isPermanentFailure } from '../../lib/kafka/dead-letters.ts';
import type { RedisService, SetOptions } from '../../lib/redis/service.ts';
import { applyUserEvent, MAX_SESSION_DATA_BYTES } from '../../lib/users/users.ts';

const NOW = Date.parse('2026-12-02T12:00:00.000Z');
const SESSION_ID = 'sess_3JfQ9wz1Yv8Lk2Pm';

/** Records what applyUserEvent writes (the pure decision; the real Redis is the e2e test's). */
const recorder = () => {
  const writes: Array<{ key: string; value: unknown; options?: SetOptions }> = [];
  const redis = {
    set: async (key: string, value: unknown, options?: SetOptions) => {
      writes.push({ key, value: JSON.parse(String(value)), ...(options ? { options } : {}) });
      return 'OK' as const;
    },
  } as unknown as RedisService;
  return { services: { redis }, writes };
};

const login = (overrides: Record<string, unknown> = {}) => ({
  type: 'USER_LOGGED_IN',
  userId: 'user-42',
  sessionId: SESSION_ID,
  timestamp: new Date(NOW).toISOString(),
  ...overrides,
});

const refusal = async (event: unknown) => {
  const { services, writes } = recorder();
  const error = await applyUserEvent(services, event, NOW).catch((caught: unknown) => caught);
  expect(writes).toEqual([]);
  expect(isPermanentFailure(error)).toBe(true); // dead-lettered at once, not retried
  return String(error);
};

describe('a USER_LOGGED_IN event', () => {
  it('is refused, for good, when its session id could never sign in', async () => {
    expect(await refusal(login({ sessionId: 'short' }))).toMatch(/sessionId.*16-128 characters/s);
  });

  it('stores the session with its sessionData for one hour when the login just happened', async () => {
    const { services, writes } = recorder();

    const effect = await applyUserEvent(
      services,
      login({ sessionData: { role: 'editor', device: 'ios' } }),
      NOW,
    );

    expect(effect).toBe('session-stored');
    expect(writes).toEqual([
      {
        key: `session:${SESSION_ID}`,
        value: {
          userId: 'user-42',
          createdAt: '2026-12-02T12:00:00.000Z',
          sessionData: { role: 'editor', device: 'ios' },
        },
        options: { EX: 3600 },
      },
    ]);
  });

  it('takes the login time as epoch milliseconds too', async () => {
    const { services, writes } = recorder();

    await applyUserEvent(services, login({ timestamp: NOW - 60_000 }), NOW);

    expect(writes[0]).toMatchObject({
      value: { createdAt: '2026-12-02T11:59:00.000Z' },
      options: { EX: 3540 },
    });
  });

  it('is refused without a timestamp, since the session could not be aged from its login', async () => {
    const { timestamp: _none, ...event } = login();
    const missing = await refusal(event);
    const unreadable = await refusal(login({ timestamp: 'yesterday' }));

    expect(missing).toMatch(/"timestamp"/);
    expect(missing).toMatch(/is required: the time of the login/);
    expect(unreadable).toMatch(/"timestamp"/);
    expect(unreadable).toMatch(/must be an ISO 8601 date-time or epoch milliseconds/);
  });

  it('ages the session from the login, not from when the event arrived', async () => {
    const { services, writes } = recorder();

    await applyUserEvent(services, login({ timestamp: NOW - 20 * 60_000 }), NOW);

    expect(writes[0]?.options).toEqual({ EX: 2400 });
  });

  it('stores nothing when replayed after its hour (a replay of user.events revives no session)', async () => {
    const { services, writes } = recorder();

    const effect = await applyUserEvent(services, login({ timestamp: NOW - 3_600_000 }), NOW);

    expect(effect).toBe('session-expired');
    expect(writes).toEqual([]);
  });

  it('is refused with a timestamp in the future beyond the clock skew, and kept to one hour within it', async () => {
    const { services, writes } = recorder();

    await applyUserEvent(services, login({ timestamp: NOW + MAX_CLOCK_SKEW_MS }), NOW);

    expect(writes[0]?.options).toEqual({ EX: 3600 });
    expect(await refusal(login({ timestamp: NOW + MAX_CLOCK_SKEW_MS + 1_000 }))).toMatch(
      /301 s in the future.*clock/,
    );
  });

  it('is refused with sessionData that is not an object or larger than the limit', async () => {
    expect(await refusal(login({ sessionData: 'admin' }))).toMatch(/sessionData.*object/s);
    const big = { blob: 'x'.repeat(MAX_SESSION_DATA_BYTES) };
    expect(await refusal(login({ sessionData: big }))).toMatch(/sessionData.*4096 bytes/s);
  });
});
