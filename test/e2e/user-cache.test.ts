import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { api } from '../support/api.ts';
import { testKafka } from '../support/kafka.ts';
import { inspector } from '../support/redis.ts';
import { eventually } from '../support/wait.ts';

const apiUrl = inject('apiUrl');
const userSourceUrl = inject('userSourceUrl');
const stack = inject('stack');
const redis = inspector(stack);
const producer = testKafka(stack.kafkaBrokers).producer();
afterAll(() => producer.disconnect());

const upstreamCalls = async (userId: string) =>
  ((await (await fetch(`${userSourceUrl}/__calls/${userId}`)).json()) as { calls: number }).calls;

const produceUserEvent = async (value: Record<string, unknown>) => {
  await producer.connect();
  await producer.send({
    topic: 'user.events',
    messages: [
      {
        key: String(value.userId),
        value: JSON.stringify({
          eventId: randomUUID(),
          timestamp: new Date().toISOString(),
          ...value,
        }),
      },
    ],
  });
};

describe('the user cache', () => {
  it('serves a profile from the user service once, then from the cache without an upstream call', async () => {
    const userId = `user-${randomUUID().slice(0, 8)}`;

    const miss = await api(apiUrl, `/users/${userId}`);
    const hit = await api(apiUrl, `/users/${userId}`);

    expect(miss).toMatchObject({ status: 200, body: { userId, fetchedTimes: 1 } });
    expect(miss.headers.get('x-cache')).toBe('miss');
    expect(hit.headers.get('x-cache')).toBe('hit');
    expect(hit.body).toEqual(miss.body);
    expect(await upstreamCalls(userId)).toBe(1);
    const ttl = await redis.ttl(`user:${userId}:profile`);
    expect(ttl).toBeGreaterThan(590);
  });

  it('answers 404 for a user the user service does not know', async () => {
    expect((await api(apiUrl, '/users/nobody-here')).status).toBe(404);
  });

  it('drops the cached profile when USER_UPDATED arrives on user.events', async () => {
    const userId = `user-${randomUUID().slice(0, 8)}`;
    await api(apiUrl, `/users/${userId}`);
    await redis.set(`user:${userId}:preferences`, { theme: 'dark' });

    await produceUserEvent({ type: 'USER_UPDATED', userId });

    await eventually(
      () => redis.exists(`user:${userId}:profile`, `user:${userId}:preferences`),
      (n) => n === 0,
      {
        what: 'profile and preferences invalidated',
      },
    );
    const refetched = await api(apiUrl, `/users/${userId}`);
    expect(refetched.headers.get('x-cache')).toBe('miss');
    expect(refetched.body.fetchedTimes).toBe(2);
  });

  it('stores a session with a one-hour TTL when USER_LOGGED_IN arrives', async () => {
    const userId = `user-${randomUUID().slice(0, 8)}`;
    const sessionId = `sess_${randomUUID().replaceAll('-', '')}`;

    await produceUserEvent({ type: 'USER_LOGGED_IN', userId, sessionId });

    const session = await eventually(
      () => redis.get<{ userId: string }>(`session:${sessionId}`),
      (value) => value !== null,
      {
        what: 'session stored',
      },
    );
    expect(session).toMatchObject({ userId });
    const ttl = await redis.ttl(`session:${sessionId}`);
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
    await redis.del(`session:${sessionId}`);
  });
});
