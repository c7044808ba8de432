import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { api } from '../support/api.ts';
import { eventually } from '../support/wait.ts';
import { carrying, messagesSince, topicOffsets } from './support/writes.ts';

const apiUrl = inject('apiUrl');
const stack = inject('stack');
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
const postOrder = (body: unknown, idempotencyKey?: string) =>
  api(apiUrl, '/orders', {
    method: 'POST',
    body,
    ...(idempotencyKey === undefined ? {} : { headers: { 'idempotency-key': idempotencyKey } }),
  });
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

  it('fails an order that does not pass the order step, with the error', async () => {
    const created = await api(apiUrl, '/orders', {
      method: 'POST',
      body: order({ currency: 'XTS' }),
    });

    const { body } = await settled(created.body.orderId as string);

    expect(body).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('currency XTS is not supported'),
      timestamp: expect.any(Number),
    });
  });

  it('answers a retried POST with the same Idempotency-Key with the first answer, even after the order completed', async () => {
    const key = `idem-${randomUUID()}`;
    const body = order();
    const first = await postOrder(body, key);
    await settled(first.body.orderId as string);

    const retry = await postOrder(body, key);

    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(retry.status).toBe(first.status);
    expect(retry.body).toEqual(first.body);
    expect(retry.body).toEqual({ orderId: first.body.orderId, status: 'pending' });
    expect(retry.headers.get('location')).toBe(first.headers.get('location'));
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
  });

  it('treats the same body with its keys in another order as the same request', async () => {
    const key = `idem-${randomUUID()}`;
    const { userId, items, currency } = order();
    const first = await postOrder({ userId, items, currency }, key);

    const reordered = await postOrder(
      {
        currency,
        items: items.map(({ sku, quantity, price }) => ({ price, quantity, sku })),
        userId,
      },
      key,
    );

    expect(reordered.status).toBe(202);
    expect(reordered.body.orderId).toBe(first.body.orderId);
  });

  it('refuses the same Idempotency-Key with another body (409, naming the problem) and creates nothing', async () => {
    const key = `idem-${randomUUID()}`;
    const body = order();
    const first = await postOrder(body, key);

    const changed = await postOrder({ ...body, currency: 'USD' }, key);

    expect(changed.status).toBe(409);
    expect(changed.body.error).toMatch(
      /Idempotency-Key was already used with a different request body/,
    );
    const state = await orderState(first.body.orderId as string);
    expect(state.body).toMatchObject({ currency: 'EUR' });
  });

  it('resolves 12 concurrent duplicates to one order: one answer, one message, processed once', async () => {
    const key = `idem-${randomUUID()}`;
    const body = order();
    const before = await topicOffsets(stack.kafkaBrokers, ['orders']);

    const answers = await Promise.all(Array.from({ length: 12 }, () => postOrder(body, key)));

    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(202));
    const orderIds = new Set(answers.map((a) => a.body.orderId));
    expect(orderIds.size).toBe(1);
    const [orderId] = [...orderIds] as string[];
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    const { body: done } = await settled(orderId as string);
    expect(done).toMatchObject({ status: 'completed', attempts: 1 });
    const sent = carrying(await messagesSince(stack.kafkaBrokers, before), body.userId);
    expect(sent.map((message) => message.key)).toEqual([orderId]);
  });

  it('refuses a malformed Idempotency-Key with 400 before anything is written', async () => {
    const response = await postOrder(order(), 'two words');

    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(/Idempotency-Key must be .*got " " at position 4/);
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
