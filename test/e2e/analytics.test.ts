import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { dailyKeys } from '../../lib/keys.ts';
import { api } from '../support/api.ts';
import { inspector, keygen } from '../support/redis.ts';
import { utcDay, withStampDays } from '../support/utc-days.ts';
import { eventually } from '../support/wait.ts';

const apiUrl = inject('apiUrl');
const redis = inspector(inject('stack'));
const keys = keygen(redis);

afterAll(() => keys.cleanup());
interface Daily {
  totalEvents: number;
  userActions: number;
  activeUsers: number;
  actions: Record<string, number>;
}

/** The daily stats of `days` added up (the days a run's events may be counted under). */
const dailyOver = async (days: string[]): Promise<Daily> => {
  const all = await Promise.all(
    days.map(async (day) => (await api<Daily>(apiUrl, `/analytics/daily/${day}`)).body),
  );
  const actions: Record<string, number> = {};
  for (const daily of all) {
    for (const [name, count] of Object.entries(daily.actions)) {
      actions[name] = (actions[name] ?? 0) + count;
    }
  }
  const sum = (field: 'totalEvents' | 'userActions' | 'activeUsers') =>
    all.reduce((total, daily) => total + daily[field], 0);
  return {
    totalEvents: sum('totalEvents'),
    userActions: sum('userActions'),
    activeUsers: sum('activeUsers'),
    actions,
  };
};

describe('analytics through the API, Kafka and the processAnalytics consumer', () => {
  it('counts 200 tracked actions exactly in the daily stats', async () => {
    const run = randomUUID().slice(0, 8);
    const [view, buy] = [`view-${run}`, `buy-${run}`];
    const users = Array.from({ length: 5 }, (_, i) => `user-${run}-${i}`);
    const events = Array.from({ length: 200 }, (_, i) => ({
      userId: users[i % users.length],
      action: i % 4 === 0 ? buy : view,
      data: { i },
    }));
    const before = (await api<Daily>(apiUrl, `/analytics/daily/${utcDay()}`)).body;

    const { days } = await withStampDays(async () => {
      for (let i = 0; i < events.length; i += 50) {
        const response = await api(apiUrl, '/analytics/events', {
          method: 'POST',
          body: { events: events.slice(i, i + 50) },
        });
        expect(response).toMatchObject({ status: 202, body: { accepted: 50 } });
      }
    });

    const after = await eventually(
      () => dailyOver(days),
      (daily) => (daily.actions[view] ?? 0) + (daily.actions[buy] ?? 0) >= 200,
      { what: '200 actions counted' },
    );
    expect(after.actions[buy]).toBe(50);
    expect(after.actions[view]).toBe(150);
    expect(after.userActions - before.userActions).toBeGreaterThanOrEqual(200);
    expect(after.totalEvents - before.totalEvents).toBeGreaterThanOrEqual(200);
    expect(after.activeUsers - before.activeUsers).toBeGreaterThanOrEqual(5);
  });

  it("accepts a single event and keeps the user's recent activity, newest first, at most 50", async () => {
    const userId = `user-${randomUUID().slice(0, 8)}`;
    expect(
      (
        await api(apiUrl, '/analytics/events', {
          method: 'POST',
          body: { userId, action: 'first' },
        })
      ).status,
    ).toBe(202);
    const many = Array.from({ length: 60 }, (_, i) => ({ userId, action: `a${i}` }));
    await api(apiUrl, '/analytics/events', { method: 'POST', body: { events: many.slice(0, 30) } });
    await api(apiUrl, '/analytics/events', { method: 'POST', body: { events: many.slice(30) } });

    const { status, body } = await api<{ activity: Array<{ action: string }> }>(
      apiUrl,
      `/users/${userId}/activity`,
    );

    expect(status).toBe(200);
    expect(body.activity).toHaveLength(50);
    expect(body.activity[0]?.action).toBe('a59');
    expect(body.activity.map((entry) => entry.action)).not.toContain('first');
  });

  it("never lists an action whose counter is gone or 0, though its name is in the day's set", async () => {
    // A day of its own, far ahead, so no consumer of this run counts into it.
    const date = `21${String(Math.floor(Math.random() * 90) + 10)}-03-${String(Math.floor(Math.random() * 28) + 1).padStart(2, '0')}`;
    const day = dailyKeys(date);
    const [counted, gone, zero] = ['counted', 'gone', 'zero'];
    for (const key of [day.totalEvents, day.userActions, day.actionNames, day.activeUsers])
      keys.track(key);
    for (const name of [counted, gone, zero]) keys.track(day.action(name));
    await redis.sadd(day.actionNames, counted, gone, zero);
    await redis.set(day.action(counted), 3);
    await redis.set(day.action(zero), 0);
    await redis.set(day.totalEvents, 3);
    await redis.set(day.userActions, 3);

    const { status, body } = await api<Daily>(apiUrl, `/analytics/daily/${date}`);

    expect(status).toBe(200);
    expect(body).toMatchObject({ totalEvents: 3, userActions: 3, activeUsers: 0 });
    expect(body.actions).toEqual({ [counted]: 3 });
  });

  it.each([
    ['2026-02-30', /calendar date/],
    ['27-11-2026', /calendar date/],
  ])('refuses the date %s with 400', async (date, message) => {
    const response = await api(apiUrl, `/analytics/daily/${date}`);
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(message);
  });

  it('refuses a batch over 100 events and an event without an action', async () => {
    const tooMany = Array.from({ length: 101 }, () => ({ userId: 'user-1', action: 'x' }));
    expect(
      (await api(apiUrl, '/analytics/events', { method: 'POST', body: { events: tooMany } }))
        .status,
    ).toBe(400);
    const missing = await api(apiUrl, '/analytics/events', {
      method: 'POST',
      body: { userId: 'user-1' },
    });
    expect(missing.status).toBe(400);
  });
});
