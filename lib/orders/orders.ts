import { createHash, randomUUID } from 'node:crypto';
import { ConflictError, NotFoundError, RedisUnavailableError } from '../errors.ts';
import { sendWithFallback } from '../fallback/messages.ts';
import { idempotencyKey, identifier, orderKeys, TTL } from '../keys.ts';
import type { Services } from '../services.ts';
import { checkOrderTotals, type OrderStep } from './order-step.ts';
import { type OrderEvent, type OrderRequest, type OrderStatus, totalInCents } from './schema.ts';

export const ORDERS_TOPIC = 'orders';

export interface AcceptedOrder {
  orderId: string;
  status: OrderStatus;
  /** True when an Idempotency-Key matched an earlier request: nothing new was created. */
  replayed: boolean;
  /** Whether the order went to Kafka or, during an outage, to the fallback list. */
  path?: 'kafka' | 'fallback';
}

const redisOf = (services: Pick<Services, 'redis'>) => {
  if (!services.redis)
    throw new RedisUnavailableError('Redis is not configured; orders need Redis for their state');
  return services.redis;
};

const fingerprint = (request: OrderRequest) =>
  createHash('sha256').update(JSON.stringify(request)).digest('base64url');

interface IdempotencyRecord {
  orderId: string;
  fingerprint: string;
}

/**
 * Accepts an order: stores its pending state (EX 300) and sends it to `orders` (or, while
 * Kafka is down, to the fallback list). With an Idempotency-Key, a retried request with the
 * same body gets the first answer and creates nothing; the same key with another body is a
 * ConflictError. If the order cannot be sent anywhere, its state and key are removed again,
 * so a retry starts clean.
 */
export const createOrder = async (
  services: Pick<Services, 'redis' | 'kafka'>,
  request: OrderRequest,
  { idempotencyKey: clientKey, correlationId }: { idempotencyKey?: string; correlationId: string },
): Promise<AcceptedOrder> => {
  const redis = redisOf(services);
  const orderId = randomUUID();
  const claim =
    clientKey === undefined
      ? undefined
      : idempotencyKey('orders', identifier('Idempotency-Key', clientKey));
  if (claim) {
    const record: IdempotencyRecord = { orderId, fingerprint: fingerprint(request) };
    const claimed = await redis.client.set(claim, record, { nx: true, ex: TTL.idempotency });
    if (claimed === null) {
      const earlier = await redis.get<IdempotencyRecord>(claim);
      if (earlier && earlier.fingerprint !== record.fingerprint) {
        throw new ConflictError('Idempotency-Key was already used with a different request body');
      }
      if (earlier) {
        const status = await getOrderStatus(services, earlier.orderId).catch(() => undefined);
        return { orderId: earlier.orderId, status: status?.status ?? 'pending', replayed: true };
      }
    }
  }
  const order: OrderEvent = {
    eventId: randomUUID(),
    orderId,
    ...request,
    total: totalInCents(request.items) / 100,
    timestamp: new Date().toISOString(),
  };
  const keys = orderKeys(orderId);
  await redis.set(
    keys.processing,
    {
      orderId,
      status: 'pending',
      userId: order.userId,
      total: order.total,
      currency: order.currency,
      createdAt: order.timestamp,
    },
    { EX: TTL.orderPending },
  );
  try {
    const outcome = await sendWithFallback(
      services,
      ORDERS_TOPIC,
      { value: order, key: orderId },
      { correlationId },
    );
    return { orderId, status: 'pending', replayed: false, path: outcome.path };
  } catch (error) {
    await redis.del(keys.processing, ...(claim ? [claim] : [])).catch(() => undefined);
    throw error;
  }
};

export interface OrderState {
  orderId: string;
  status: OrderStatus;
  [field: string]: unknown;
}

/**
 * The order's state from its result, error and processing keys (one request).
 * @throws NotFoundError when none exists (unknown, or expired).
 */
export const getOrderStatus = async (
  services: Pick<Services, 'redis'>,
  orderId: string,
): Promise<OrderState> => {
  const keys = orderKeys(identifier('orderId', orderId));
  const [result, error, processing] = await redisOf(services).client.mget<
    [OrderState | null, OrderState | null, OrderState | null]
  >(keys.result, keys.error, keys.processing);
  const state = result ?? error ?? processing;
  if (!state) throw new NotFoundError(`Order ${orderId} was not found (unknown, or expired)`);
  return state;
};

export type ProcessOutcome = 'completed' | 'failed' | 'duplicate';

/**
 * Processes one order from the topic: processing state (EX 600) -> the order step ->
 * `order:{id}:result` (EX 3600) or `order:{id}:error` (EX 86400), processing deleted.
 * A redelivered order that already has a result or error is left alone ('duplicate').
 * @throws when Redis fails or the step throws: the record must be retried.
 */
export const processOrder = async (
  services: Pick<Services, 'redis'>,
  order: OrderEvent,
  step: OrderStep = checkOrderTotals,
): Promise<ProcessOutcome> => {
  const redis = redisOf(services);
  const keys = orderKeys(identifier('orderId', order.orderId));
  if ((await redis.client.exists(keys.result, keys.error)) > 0) return 'duplicate';
  const base = {
    orderId: order.orderId,
    userId: order.userId,
    currency: order.currency,
    createdAt: order.timestamp,
  };
  await redis.set(
    keys.processing,
    { ...base, status: 'processing', startedAt: new Date().toISOString() },
    { EX: TTL.orderProcessing },
  );
  const outcome = await step(order);
  const finishedAt = new Date().toISOString();
  const pipeline = redis.client.pipeline();
  if (outcome.ok) {
    const { ok: _ok, ...totals } = outcome;
    pipeline.set(
      keys.result,
      { ...base, status: 'completed', items: order.items, ...totals, completedAt: finishedAt },
      { ex: TTL.orderResult },
    );
  } else {
    pipeline.set(
      keys.error,
      { ...base, status: 'failed', reason: outcome.reason, failedAt: finishedAt },
      { ex: TTL.orderError },
    );
  }
  pipeline.del(keys.processing);
  await pipeline.exec();
  return outcome.ok ? 'completed' : 'failed';
};
