import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { api } from '../support/api.ts';
import { testStackOutages } from '../support/outages.ts';
import { inspector } from '../support/redis.ts';
import { withStampDays } from '../support/utc-days.ts';
import { eventually } from '../support/wait.ts';

/**
 * The Upstash gateway (Redis over HTTP) stops under a running serverless offline: reads of the
 * user cache are served from memory or from the user service, requests that need Redis fail
 * fast with a 503 naming Redis, and once the gateway is back the same containers use Redis
 * again, without a restart. (/health during the outage: health.outage.test.ts.)
 */

const apiUrl = inject('apiUrl');
const userSourceUrl = inject('userSourceUrl');
const stack = inject('stack');
const outages = testStackOutages();
const redis = inspector(stack);

/** Well inside the functions' 10 s timeout: Redis failures must surface fast. */
const FAST_MS = 5_000;

const timed = async <T>(call: () => Promise<T>) => {
  const started = performance.now();
  const result = await call();
  return { ...result, ms: performance.now() - started };
};

const upstreamCalls = async (userId: string) =>
  ((await (await fetch(`${userSourceUrl}/__calls/${userId}`)).json()) as { calls: number }).calls;

const order = (userId: string) => ({
  userId,
  items: [{ sku: 'SKU-RED-MUG', quantity: 1, price: 12.5 }],
  currency: 'EUR',
});

describe('the API while the Upstash gateway is stopped', () => {
  // Whatever happens below, the gateway runs again for whoever comes next.
  afterAll(async () => {
    await outages.startGateway();
  });

  it('serves profiles from memory or upstream, fails Redis writes fast with 503, and recovers without a restart', async () => {
    const cachedBefore = `user-${randomUUID().slice(0, 8)}`;
    const fresh = `user-${randomUUID().slice(0, 8)}`;
    const orderUser = `user-${randomUUID().slice(0, 8)}`;
    const key = `gw-${randomUUID()}`;
    const action = `gw-${randomUUID().slice(0, 8)}`;
    let trackedDays: string[] = [];
    const warm = await api(apiUrl, `/users/${cachedBefore}`);
    expect(warm.headers.get('x-cache-store')).toBe('redis');
    const placed = await api(apiUrl, '/orders', { method: 'POST', body: order(orderUser) });
    expect(placed.status).toBe(202);

    await outages.stopGateway();
    try {
      // Reads: a profile cached in Redis before the outage comes from the user service again;
      // a new one is fetched once and then served from the container's memory.
      const cachedDuring = await timed(() => api(apiUrl, `/users/${cachedBefore}`));
      const missDuring = await timed(() => api(apiUrl, `/users/${fresh}`));
      const hitDuring = await timed(() => api(apiUrl, `/users/${fresh}`));
      // Requests that need Redis.
      const create = await timed(() =>
        api(apiUrl, '/orders', {
          method: 'POST',
          body: order(orderUser),
          headers: { 'idempotency-key': key },
        }),
      );
      const read = await timed(() => api(apiUrl, `/orders/${placed.body.orderId}`));
      const daily = await timed(() => api(apiUrl, '/analytics/daily/2026-01-01'));
      const activity = await timed(() => api(apiUrl, `/users/${orderUser}/activity`));
      // Tracking needs Kafka, not Redis: the events are accepted (only the activity view
      // misses them), so the caller has no reason to retry and count them twice.
      // A run across midnight (UTC) counts the event on one of the two days around the POST.
      const { result: tracked, days } = await withStampDays(() =>
        timed(() =>
          api(apiUrl, '/analytics/events', { method: 'POST', body: { userId: orderUser, action } }),
        ),
      );
      trackedDays = days;

      expect(cachedDuring).toMatchObject({ status: 200, body: { userId: cachedBefore } });
      expect(cachedDuring.headers.get('x-cache')).toBe('miss');
      expect(cachedDuring.headers.get('x-cache-store')).toBe('memory');
      expect(missDuring.status).toBe(200);
      expect(missDuring.headers.get('x-cache')).toBe('miss');
      expect(hitDuring.headers.get('x-cache')).toBe('hit');
      expect(hitDuring.headers.get('x-cache-store')).toBe('memory');
      expect(hitDuring.body).toEqual(missDuring.body);
      expect(await upstreamCalls(fresh)).toBe(1);
      for (const refused of [create, read, daily, activity]) {
        expect(refused.status).toBe(503);
        expect(refused.headers.get('retry-after')).toBe('5');
        expect(refused.body.error).toMatch(
          /^Redis over HTTP is unreachable \(.+\); check UPSTASH_REDIS_REST_URL and that the endpoint is up$/,
        );
      }
      expect(tracked).toMatchObject({ status: 202, body: { accepted: 1 } });
      for (const answer of [
        cachedDuring,
        missDuring,
        hitDuring,
        create,
        read,
        daily,
        activity,
        tracked,
      ]) {
        expect(answer.ms).toBeLessThan(FAST_MS);
      }
    } finally {
      await outages.startGateway();
    }

    // Back: the same containers write to Redis again, and the order refused during the
    // outage is accepted with the same Idempotency-Key (nothing of it was stored).
    const retried = await api(apiUrl, '/orders', {
      method: 'POST',
      body: order(orderUser),
      headers: { 'idempotency-key': key },
    });
    expect(retried.status).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    const completed = await eventually(
      () => api(apiUrl, `/orders/${retried.body.orderId}`),
      ({ body }) => body.status === 'completed',
      { what: 'the retried order completed' },
    );
    expect(completed.body).toMatchObject({ status: 'completed', attempts: 1 });
    await eventually(
      async () => {
        let count = 0;
        for (const day of trackedDays) {
          const { body } = await api<{ actions: Record<string, number> }>(
            apiUrl,
            `/analytics/daily/${day}`,
          );
          count += body.actions?.[action] ?? 0;
        }
        return count;
      },
      (count) => count === 1,
      { what: 'the action tracked during the outage counted once' },
    );
    const after = `user-${randomUUID().slice(0, 8)}`;
    const missAfter = await api(apiUrl, `/users/${after}`);
    expect(missAfter.headers.get('x-cache-store')).toBe('redis');
    expect(await redis.exists(`user:${after}:profile`)).toBe(1);
    await redis.del(`user:${after}:profile`, `user:${cachedBefore}:profile`);
  });
});
