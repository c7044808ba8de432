import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { processOrders } from '../../functions/process-orders.ts';
import { type FallbackEntry, fallbackListKey } from '../../lib/fallback/messages.ts';
import { deadLetterTopicOf } from '../../lib/kafka/dead-letters.ts';
import { orderKeys, TTL } from '../../lib/keys.ts';
import { createOrder } from '../../lib/orders/create-order.ts';
import { getOrderStatus } from '../../lib/orders/order-status.ts';
import { checkOrderTotals, type OrderStep } from '../../lib/orders/order-step.ts';
import type { OrderEvent } from '../../lib/orders/schema.ts';
import type { Services } from '../../lib/services.ts';
import { consumeMessages, testKafka, uniqueTopic } from '../support/kafka.ts';
import { inspector, keygen } from '../support/redis.ts';
import { CLOSED_BROKER, servicesFor } from '../support/services.ts';
import { mskEvent, mskRecord, orderEvent } from './msk-events.ts';

// An order is processed at most once for as long as its event can come back, and
// GET /orders/{id} answers a true state at every moment of its life. Real
// processOrders handler, real Redis through the gateway, real broker for the dead letters.
// Where the test needs a key to expire (a 1 h result, a 5 min pending state), it deletes it,
// as its TTL would.

const stack = inject('stack');
const redis = inspector(stack);
const keys = keygen(redis);
const admin = testKafka(stack.kafkaBrokers).admin();
const topics: string[] = [];
const opened: Services[] = [];
const services = (overrides: Parameters<typeof servicesFor>[1] = {}) => {
  const built = servicesFor(stack, overrides);
  opened.push(built);
  return built;
};
const live = services();
/** Orders a test parked in `kafka_fallback:orders`, taken out again at the end. */
const parkedOrders = new Set<string>();

beforeAll(() => admin.connect());
afterAll(async () => {
  const list = fallbackListKey('orders');
  for (const entry of await redis.lrange<FallbackEntry>(list, 0, -1)) {
    if (parkedOrders.has((entry.message as OrderEvent).orderId)) await redis.lrem(list, 1, entry);
  }
  await Promise.all(opened.map((s) => s.kafka?.disconnect()));
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics({ topics: topics.filter((topic) => existing.has(topic)) });
  await admin.disconnect();
  await keys.cleanup();
});

const order = (overrides: Partial<OrderEvent> = {}) => orderEvent(keys.track, overrides);

/** The default order step, counting its runs. */
const countingStep = () => {
  let runs = 0;
  const step: OrderStep = async (event) => {
    runs += 1;
    return checkOrderTotals(event);
  };
  return { step, runs: () => runs };
};

/** A batch of `value` at `offset` of a fresh topic, as the mapping delivers it. */
// A record delivered again keeps the timestamp the broker gave it when it was appended; the
// attempt counts are kept per record, by position and that timestamp.
const appendedAt = Date.now();
const delivery = (topic: string, value: OrderEvent, offset = 0) =>
  mskEvent([mskRecord(topic, { offset, key: value.orderId, value, timestamp: appendedAt })]);

const state = (orderId: string) => getOrderStatus(live, orderId);

describe('an order is processed at most once for as long as its event can come back', () => {
  it('is not processed again when it comes back after its one-hour result expired', async () => {
    const topic = uniqueTopic('lifecycle-after-result');
    const value = order();
    const keysOf = orderKeys(value.orderId);
    const { step, runs } = countingStep();
    const handler = processOrders({ services: () => live, step });

    await handler(delivery(topic, value));
    await redis.del(keysOf.result); // its 3600 s ran out
    const again = await handler(delivery(topic, value, 1)); // a replay, a DLQ copy, a late drain

    expect(again).toEqual({ batchItemFailures: [] });
    expect(runs()).toBe(1);
    expect(await state(value.orderId)).toMatchObject({ status: 'completed' });
    // The done-mark outlives MSK's 7-day retention.
    expect(await redis.ttl(keysOf.state)).toBeGreaterThan(7 * 86_400);
    expect(await redis.ttl(keysOf.state)).toBeLessThanOrEqual(TTL.orderState);
  });

  it('is not processed again when an order the step refused comes back after its error expired', async () => {
    const topic = uniqueTopic('lifecycle-after-error');
    const value = order({ currency: 'XTS' });
    const { step, runs } = countingStep();
    const handler = processOrders({ services: () => live, step });

    await handler(delivery(topic, value));
    await redis.del(orderKeys(value.orderId).error); // its 86400 s ran out
    await handler(delivery(topic, value, 1));

    expect(runs()).toBe(1);
    expect(await state(value.orderId)).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('currency XTS is not supported'),
    });
  });
});

describe('GET /orders/{id} answers a true state at every moment', () => {
  it('answers pending while the order is parked in the fallback list, after its 300 s pending state', async () => {
    const down = services({ kafkaBrokers: CLOSED_BROKER });
    const userId = `parked-${Date.now()}`;

    const accepted = await createOrder(
      down,
      { userId, items: [{ sku: 'SKU-1', quantity: 1, price: 4 }], currency: 'EUR' },
      { correlationId: `parked-${userId}` },
    );
    parkedOrders.add(accepted.orderId);
    const keysOf = orderKeys(accepted.orderId);
    for (const key of Object.values(keysOf)) keys.track(key);
    const pendingTtl = await redis.ttl(keysOf.processing);
    await redis.del(keysOf.processing); // its 300 s ran out; Kafka is still down
    const parked = await state(accepted.orderId);
    const list = await redis.lrange<FallbackEntry>(fallbackListKey('orders'), 0, -1);
    const entry = list.find((one) => (one.message as OrderEvent).orderId === accepted.orderId);

    expect(accepted).toMatchObject({ status: 'pending', path: 'fallback' });
    expect(pendingTtl).toBeGreaterThan(290);
    expect(pendingTtl).toBeLessThanOrEqual(300);
    expect(parked).toMatchObject({ orderId: accepted.orderId, userId, status: 'pending' });
    expect(entry).toBeDefined();
  });

  it('answers processing while a throwing order is retried, then failed with its {error, timestamp} once dead-lettered', async () => {
    const topic = uniqueTopic('lifecycle-dead-lettered');
    topics.push(deadLetterTopicOf(topic));
    const value = order();
    const keysOf = orderKeys(value.orderId);
    const failing: OrderStep = async () => {
      throw new Error('payment provider timed out');
    };
    const handler = processOrders({ services: () => live, step: failing, maxAttempts: 3 });

    const seen: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      await handler(delivery(topic, value)); // the mapping delivers the failed record again
      seen.push((await state(value.orderId)).status);
    }
    const stored = await redis.get<{ error: string; timestamp: number }>(keysOf.error);
    const errorTtl = await redis.ttl(keysOf.error);
    await redis.del(keysOf.error); // its 86400 s ran out
    const later = await state(value.orderId);
    const [letter] = await consumeMessages(stack.kafkaBrokers, deadLetterTopicOf(topic), 1);

    expect(seen).toEqual(['processing', 'processing', 'failed']);
    expect(stored).toMatchObject({
      error: 'payment provider timed out',
      timestamp: expect.any(Number),
      status: 'failed',
      attempts: 3,
    });
    expect(Math.abs(Date.now() - (stored?.timestamp ?? 0))).toBeLessThan(60_000);
    expect(errorTtl).toBeGreaterThan(86_300);
    expect(errorTtl).toBeLessThanOrEqual(86_400);
    expect(await redis.exists(keysOf.processing)).toBe(0);
    expect(later).toMatchObject({ status: 'failed', error: 'payment provider timed out' });
    expect(letter?.value).toMatchObject({ attempts: 3, consumer: 'processOrders' });
  });

  it('processes a dead-lettered order when its dead letter is replayed: that failure was no done-mark', async () => {
    const topic = uniqueTopic('lifecycle-replayed');
    topics.push(deadLetterTopicOf(topic));
    const value = order();
    const keysOf = orderKeys(value.orderId);
    const failing: OrderStep = async () => {
      throw new Error('inventory service down');
    };
    const dying = processOrders({ services: () => live, step: failing, maxAttempts: 1 });
    const { step, runs } = countingStep();

    await dying(delivery(topic, value));
    const failed = await state(value.orderId);
    await processOrders({ services: () => live, step })(delivery(topic, value, 1));

    expect(failed).toMatchObject({ status: 'failed', error: 'inventory service down' });
    expect(runs()).toBe(1);
    expect(await state(value.orderId)).toMatchObject({ status: 'completed' });
    expect(await redis.exists(keysOf.error)).toBe(0);
  });

  it('keeps answering completed after the hour of its result', async () => {
    const topic = uniqueTopic('lifecycle-completed');
    const value = order();

    await processOrders({ services: () => live })(delivery(topic, value));
    await redis.del(orderKeys(value.orderId).result); // its 3600 s ran out

    expect(await state(value.orderId)).toMatchObject({
      orderId: value.orderId,
      userId: value.userId,
      status: 'completed',
    });
  });
});
