import { type OrderEvent, totalInCents } from './schema.ts';

export type OrderOutcome =
  | { ok: true; subtotal: number; total: number; itemCount: number }
  | { ok: false; reason: string };

/**
 * The business step of order processing, and the one place a deployment plugs in payment and
 * inventory (pass another `OrderStep` to `processOrder`). Throwing means "could not decide,
 * try again" (an outage; after 5 attempts the order goes to `orders.dlq`); `{ ok: false }`
 * means "decided: this order fails". A redelivered order that has a result never reaches the
 * step, but a function that dies between the step and writing the result runs it again on
 * redelivery: a step with outside effects (charging a card) must be idempotent by `orderId`,
 * e.g. by passing it as the payment provider's idempotency key.
 */
export type OrderStep = (order: OrderEvent) => Promise<OrderOutcome>;

export const SUPPORTED_CURRENCIES = new Set(['EUR', 'USD', 'GBP', 'INR', 'JPY', 'CHF']);
export const MAX_ORDER_TOTAL_CENTS = 1_000_000; // 10,000.00 in the order's currency

/**
 * The default step: recomputes the total from the items and checks it against what the API
 * computed (nothing changed on the way), the currency, and the per-order limit.
 */
export const checkOrderTotals: OrderStep = async (order) => {
  if (!SUPPORTED_CURRENCIES.has(order.currency)) {
    return {
      ok: false,
      reason: `currency ${order.currency} is not supported (supported: ${[...SUPPORTED_CURRENCIES].join(', ')})`,
    };
  }
  const cents = totalInCents(order.items);
  if (cents !== Math.round(order.total * 100)) {
    return { ok: false, reason: `total ${order.total} does not match the items (${cents / 100})` };
  }
  if (cents > MAX_ORDER_TOTAL_CENTS) {
    return {
      ok: false,
      reason: `total ${cents / 100} ${order.currency} exceeds the limit of ${MAX_ORDER_TOTAL_CENTS / 100} per order`,
    };
  }
  return {
    ok: true,
    subtotal: cents / 100,
    total: cents / 100,
    itemCount: order.items.reduce((count, item) => count + item.quantity, 0),
  };
};
