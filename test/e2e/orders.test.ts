import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { api } from '../support/api.ts';
import { eventually } from '../support/wait.ts';

const apiUrl = inject('apiUrl');
const order = (overrides: Record<string, unknown> = {}) => ({
  userId: `user-${randomUUID().slice(0, 8)}`,
  items: [
    { sku: 'SKU-RED-MUG', quantity: 2, price: 12.5 },
    { sku: 'SKU-TEA-100', quantity: 3, price: 0.1 },
  ],
  currency: 'EUR',
  ...overrides,
});

const orderState = (orderId: string) => api(apiUrl, `/orders/${orderId}`);
const settled = (orderId: string) =>
  eventually(
    () => orderState(orderId),
    ({ body }) => body.status === 'completed' || body.status === 'failed',
    { what: `order ${orderId} completed or failed` },
  );

describe('orders through the API, Kafka and the processOrders consumer', () => {
  it('accepts an order (202, Location, pending) and completes it with the computed totals', async () => {
    const created = await api(apiUrl, '/orders', { method: 'POST', body: order() });

    expect(created.status).toBe(202);
    expect(created.body).toEqual({
      orderId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'pending',
    });
    expect(created.headers.get('location')).toBe(`/orders/${created.body.orderId}`);

    const { status, body } = await settled(created.body.orderId as string);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'completed',
      subtotal: 25.3,
      total: 25.3,
      itemCount: 5,
      currency: 'EUR',
    });
  });

  it('fails an order that does not pass the order step, with the reason', async () => {
    const created = await api(apiUrl, '/orders', {
      method: 'POST',
      body: order({ currency: 'XTS' }),
    });

    const { body } = await settled(created.body.orderId as string);

    expect(body).toMatchObject({
      status: 'failed',
      reason: expect.stringContaining('currency XTS is not supported'),
    });
  });

  it('answers a retried POST with the same Idempotency-Key with the same order, and a changed body with 409', async () => {
    const key = `idem-${randomUUID()}`;
    const body = order();
    const first = await api(apiUrl, '/orders', {
      method: 'POST',
      body,
      headers: { 'idempotency-key': key },
    });
    const retry = await api(apiUrl, '/orders', {
      method: 'POST',
      body,
      headers: { 'idempotency-key': key },
    });
    const changed = await api(apiUrl, '/orders', {
      method: 'POST',
      body: { ...body, currency: 'USD' },
      headers: { 'idempotency-key': key },
    });

    expect(first.status).toBe(202);
    expect(retry.status).toBe(202);
    expect(retry.body.orderId).toBe(first.body.orderId);
    expect(changed.status).toBe(409);
    expect(changed.body.error).toMatch(
      /Idempotency-Key was already used with a different request body/,
    );
  });

  it('answers 404 for an unknown order and 400 for an id that could address other keys', async () => {
    expect((await orderState(randomUUID())).status).toBe(404);
    const unsafe = await orderState('a:b*');
    expect(unsafe.status).toBe(400);
    expect(unsafe.body.error).toMatch(/orderId must be/);
  });

  it.each([
    ['invalid JSON', '{"userId":', {}, 400, /not valid JSON/],
    [
      'a wrong content type',
      'userId=x',
      { 'content-type': 'text/plain' },
      415,
      /Content-Type must be application\/json/,
    ],
    [
      'a negative quantity',
      JSON.stringify(order({ items: [{ sku: 'A', quantity: -1, price: 1 }] })),
      {},
      400,
      /items\.0\.quantity/,
    ],
    ['an unknown field', JSON.stringify(order({ coupon: 'FREE' })), {}, 400, /coupon/],
  ])(
    'refuses %s with a message naming the problem',
    async (_what, raw, headers, status, message) => {
      const response = await api(apiUrl, '/orders', {
        method: 'POST',
        body: raw,
        headers: { 'content-type': 'application/json', ...headers },
      });
      expect(response.status).toBe(status);
      expect(response.body.error).toMatch(message);
    },
  );
});
