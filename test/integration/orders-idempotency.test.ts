import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaMessageTooLargeError } from '../../lib/errors.ts';
import type { KafkaService } from '../../lib/kafka/producer.ts';
import { orderKeys } from '../../lib/keys.ts';
import { createOrder } from '../../lib/orders/create-order.ts';
import type { OrderRequest } from '../../lib/orders/schema.ts';
import type { RedisService } from '../../lib/redis/service.ts';
import { ORDERS_TOPIC } from '../../lib/topics.ts';
import { carrying, messagesSince, topicOffsets } from '../e2e/support/writes.ts';
import { inspector, keygen } from '../support/redis.ts';
import { servicesFor } from '../support/services.ts';

// createOrder's Idempotency-Key claims, against the real Redis and the real broker: a key
// belongs to one user, and an abandoned claim is taken over by exactly one retry.

const stack = inject('stack');
const raw = inspector(stack);
const keys = keygen(raw);
const services = servicesFor(stack);
afterAll(async () => {
  await services.kafka?.disconnect();
  await keys.cleanup();
});

const newUser = () => `user-${randomUUID().slice(0, 8)}`;
const orderOf = (userId: string): OrderRequest => ({
  userId,
  items: [{ sku: 'SKU-RED-MUG', quantity: 1, price: 12.5 }],
  currency: 'EUR',
});
/** Registers what a request with this user and key may write, for cleanup. */
const track = (userId: string, key: string) => {
  keys.track(`idempotency:orders:${userId}:${key}`);
  keys.track(`idempotency:orders:${key}`);
};
const trackOrder = (orderId: string) => {
  for (const key of Object.values(orderKeys(orderId))) keys.track(key);
};

/** A promise each caller awaits until `count` callers have arrived. */
const barrier = (count: number) => {
  let arrived = 0;
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return async () => {
    arrived += 1;
    if (arrived >= count) open();
    await opened;
  };
};

describe('createOrder: Idempotency-Key claims', () => {
  it('gives two users who send the same key an order each, and neither sees the other’s', async () => {
    const key = `idem-${randomUUID()}`;
    const [alice, bob] = [newUser(), newUser()];
    track(alice, key);
    track(bob, key);

    const first = await createOrder(services, orderOf(alice), {
      idempotencyKey: key,
      correlationId: `corr-${alice}`,
    });
    const second = await createOrder(services, orderOf(bob), {
      idempotencyKey: key,
      correlationId: `corr-${bob}`,
    });
    const retry = await createOrder(services, orderOf(alice), {
      idempotencyKey: key,
      correlationId: `corr-${alice}-retry`,
    });
    trackOrder(first.orderId);
    trackOrder(second.orderId);

    expect(second).toMatchObject({ status: 'pending', replayed: false });
    expect(second.orderId).not.toBe(first.orderId);
    expect(retry).toMatchObject({ orderId: first.orderId, replayed: true });
  });

  it('lets exactly one of 8 concurrent retries take over an abandoned claim: one orderId, one message', async () => {
    const key = `idem-${randomUUID()}`;
    const userId = newUser();
    track(userId, key);
    const body = orderOf(userId);
    // The first request claimed the key and failed (Kafka refused the order): the claim is
    // left abandoned, for a retry to finish under the same orderId.
    const refusing: KafkaService = {
      ...(services.kafka as KafkaService),
      sendBatch: async () => {
        throw new KafkaMessageTooLargeError('message too large', ORDERS_TOPIC);
      },
    };
    await expect(
      createOrder({ ...services, kafka: refusing }, body, {
        idempotencyKey: key,
        correlationId: `corr-${userId}-0`,
      }),
    ).rejects.toBeInstanceOf(KafkaMessageTooLargeError);
    const before = await topicOffsets(stack.kafkaBrokers, [ORDERS_TOPIC]);
    // Every retry has read the abandoned claim before any of them acts on it.
    const allHaveRead = barrier(8);
    const redis = services.redis as RedisService;
    const racing = {
      ...services,
      redis: {
        ...redis,
        client: new Proxy(redis.client, {
          get: (target, property, receiver) =>
            property === 'get'
              ? async (name: string) => {
                  const value = await target.get(name);
                  if (name.startsWith('idempotency:')) await allHaveRead();
                  return value;
                }
              : Reflect.get(target, property, receiver),
        }),
      },
    };

    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        createOrder(racing, body, { idempotencyKey: key, correlationId: `corr-${userId}-${i}` }),
      ),
    );

    const orderIds = new Set(answers.map((answer) => answer.orderId));
    expect(orderIds.size).toBe(1);
    const [orderId] = [...orderIds] as string[];
    trackOrder(orderId as string);
    expect(answers.filter((answer) => !answer.replayed)).toHaveLength(1);
    const sent = carrying(await messagesSince(stack.kafkaBrokers, before), userId);
    expect(sent.map((message) => message.key)).toEqual([orderId]);
  });
});
