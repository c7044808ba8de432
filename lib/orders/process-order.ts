import { identifier, orderKeys, TTL } from '../keys.ts';
import { recordMetric } from '../metrics.ts';
import { requireRedis } from '../redis/service.ts';
import type { Services } from '../services.ts';
import { type OrderStateRecord, stateOf } from './order-status.ts';
import { checkOrderTotals, type OrderStep } from './order-step.ts';
import type { OrderEvent } from './schema.ts';

const redisOf = (services: Pick<Services, 'redis'>) => requireRedis(services, 'orders');

export type ProcessOutcome = 'completed' | 'failed' | 'duplicate';

/** The error an order stores: the design's `{error, timestamp}`, plus what GET answers. */
const errorOf = (order: OrderEvent, error: string, attempts: number, deadLettered: boolean) => ({
  error,
  timestamp: Date.now(),
  orderId: order.orderId,
  userId: order.userId,
  currency: order.currency,
  createdAt: order.timestamp,
  status: 'failed' as const,
  attempts,
  failedAt: new Date().toISOString(),
  ...(deadLettered ? { deadLettered: true as const } : {}),
});

/**
 * True when the order was processed and must not be again: it has a result, a state saying
 * completed or failed by the order step, or an error of the step (written by a version before
 * the state existed). An order that failed only by going to `orders.dlq` is not done: a replay
 * of its dead letter processes it.
 */
const isDone = (
  state: OrderStateRecord | null,
  result: unknown,
  error: { deadLettered?: true } | null,
): boolean =>
  result !== null ||
  state?.status === 'completed' ||
  (state?.status === 'failed' && state.deadLettered !== true) ||
  (error !== null && error.deadLettered !== true);

/**
 * Processes one order from the topic, as the design's `processOrder`: processing state (EX 600)
 * -> the order step -> `order:{id}:result` (EX 3600) or `order:{id}:error` = `{error,
 * timestamp, ...}` (EX 86400), processing deleted; `order:{id}:state` follows each step and
 * outlives them all (TTL.orderState).
 * Each run that gets past the duplicate check counts itself in `order:{id}:attempts` (in the
 * same request as the processing state), and the result or error records that count as
 * `attempts`: 1 means processed once; more means a run failed and was retried (or two
 * deliveries raced), which operators and the outage tests can see.
 * A redelivered order that was processed (see isDone) is left alone ('duplicate'), for 15 days.
 * @throws when Redis fails or the step throws: the record must be retried (and after its
 *   attempts, failOrder records its error).
 */
export const processOrder = async (
  services: Pick<Services, 'redis'>,
  order: OrderEvent,
  step: OrderStep = checkOrderTotals,
): Promise<ProcessOutcome> => {
  const redis = redisOf(services);
  const keys = orderKeys(identifier('orderId', order.orderId));
  const [state, result, error] = await redis.client.mget<
    [OrderStateRecord | null, unknown, { deadLettered?: true } | null]
  >(keys.state, keys.result, keys.error);
  if (isDone(state, result, error)) {
    recordMetric('DuplicatesSkipped');
    return 'duplicate';
  }
  const base = {
    orderId: order.orderId,
    userId: order.userId,
    currency: order.currency,
    createdAt: order.timestamp,
  };
  // The writes go through the client that leaves replies as they are: their replies are OK
  // and counts, and parsing "OK" as JSON (which @upstash/redis tries, and catches) cost more
  // than the rest of processing an order. INCR's reply is a JSON number either way.
  const [attempts] = await redis.unparsed
    .pipeline()
    .incr(keys.attempts)
    .expire(keys.attempts, TTL.orderResult)
    .set(
      keys.processing,
      { status: 'processing', ...order, ...base, startedAt: new Date().toISOString() },
      { ex: TTL.orderProcessing },
    )
    .set(keys.state, stateOf(order, 'processing'), { ex: TTL.orderState })
    // A dead-lettered order being replayed: its old error is no longer its state.
    .del(keys.error)
    .exec<[number, number, string, string, number]>();
  const outcome = await step(order);
  const finishedAt = new Date().toISOString();
  const pipeline = redis.unparsed.pipeline();
  if (outcome.ok) {
    const { ok: _ok, ...totals } = outcome;
    pipeline.set(
      keys.result,
      {
        ...base,
        status: 'completed',
        items: order.items,
        ...totals,
        attempts,
        completedAt: finishedAt,
      },
      { ex: TTL.orderResult },
    );
    pipeline.set(keys.state, stateOf(order, 'completed'), { ex: TTL.orderState });
  } else {
    pipeline.set(keys.error, errorOf(order, outcome.reason, attempts, false), {
      ex: TTL.orderError,
    });
    pipeline.set(keys.state, stateOf(order, 'failed', { error: outcome.reason }), {
      ex: TTL.orderState,
    });
  }
  pipeline.del(keys.processing);
  await pipeline.exec();
  recordMetric(outcome.ok ? 'OrdersCompleted' : 'OrdersFailed');
  return outcome.ok ? 'completed' : 'failed';
};

/** At most this much of an error message is kept with the order (a log line holds the rest). */
const MAX_ERROR_LENGTH = 500;

/**
 * Records that an order failed after its processing kept throwing and it went to `orders.dlq`:
 * the design's `order:{id}:error` = `{error, timestamp}` (EX 86400) and the state `failed`, in
 * one request, the processing state deleted. Not a done-mark: a replay of the dead letter
 * processes the order again.
 */
export const failOrder = async (
  services: Pick<Services, 'redis'>,
  order: OrderEvent,
  cause: unknown,
  attempts: number,
): Promise<void> => {
  const keys = orderKeys(identifier('orderId', order.orderId));
  const error = (cause instanceof Error ? cause.message : String(cause)).slice(0, MAX_ERROR_LENGTH);
  await redisOf(services)
    .client.pipeline()
    .set(keys.error, errorOf(order, error, attempts, true), { ex: TTL.orderError })
    .set(keys.state, stateOf(order, 'failed', { error, deadLettered: true }), {
      ex: TTL.orderState,
    })
    .del(keys.processing)
    .exec();
  recordMetric('OrdersFailed');
};
