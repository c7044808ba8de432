import { describe, expect, it } from 'vitest';
import { checkOrderTotals } from '../../lib/orders/order-step.ts';
import { type OrderEvent, orderRequestSchema, totalInCents } from '../../lib/orders/schema.ts';

const order = (overrides: Partial<OrderEvent> = {}): OrderEvent => ({
  eventId: 'e-1',
  orderId: 'o-1',
  userId: 'user-42',
  items: [
    { sku: 'SKU-RED-MUG', quantity: 2, price: 12.5 },
    { sku: 'SKU-TEA-100', quantity: 3, price: 0.1 },
  ],
  currency: 'EUR',
  total: 25.3,
  timestamp: '2026-11-27T03:05:36.000Z',
  ...overrides,
});

describe('the default order step', () => {
  it('completes an order whose total matches its items, in cents (no float drift)', async () => {
    expect(totalInCents(order().items)).toBe(2530);
    expect(await checkOrderTotals(order())).toEqual({
      ok: true,
      subtotal: 25.3,
      total: 25.3,
      itemCount: 5,
    });
  });

  it('fails an order whose total was changed on the way', async () => {
    expect(await checkOrderTotals(order({ total: 1 }))).toEqual({
      ok: false,
      reason: 'total 1 does not match the items (25.3)',
    });
  });

  it('fails an unsupported currency, naming the supported ones', async () => {
    const outcome = await checkOrderTotals(order({ currency: 'XTS' }));
    expect(outcome).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^currency XTS is not supported \(supported: EUR, USD/),
    });
  });

  it('fails an order above the per-order limit', async () => {
    const items = [{ sku: 'GOLD', quantity: 2, price: 6000 }];
    expect(await checkOrderTotals(order({ items, total: 12000 }))).toEqual({
      ok: false,
      reason: 'total 12000 EUR exceeds the limit of 10000 per order',
    });
  });
});

describe('the order request schema', () => {
  const valid = {
    userId: 'user-42',
    items: [{ sku: 'A', quantity: 1, price: 1.99 }],
    currency: 'EUR',
  };

  it('accepts a well-formed order', () => {
    expect(orderRequestSchema.safeParse(valid).success).toBe(true);
  });

  it.each([
    ['a negative quantity', { items: [{ sku: 'A', quantity: -1, price: 1 }] }],
    ['a fractional quantity', { items: [{ sku: 'A', quantity: 1.5, price: 1 }] }],
    ['a price with 3 decimals', { items: [{ sku: 'A', quantity: 1, price: 1.999 }] }],
    ['no items', { items: [] }],
    ['a userId with a colon', { userId: 'user:42' }],
    ['a userId with a space', { userId: 'user 42' }],
    ['a lower-case currency', { currency: 'eur' }],
    ['an unknown field', { coupon: 'FREE' }],
  ])('refuses %s', (_what, change) => {
    expect(orderRequestSchema.safeParse({ ...valid, ...change }).success).toBe(false);
  });
});
