import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ConflictError } from '../errors.ts';
import { sendWithFallback } from '../fallback/messages.ts';
import { identifier, orderIdempotencyKey, orderKeys, TTL } from '../keys.ts';
import { recordMetric } from '../metrics.ts';
import { defineScript, runScript } from '../redis/scripts.ts';
import { type RedisService, requireRedis } from '../redis/service.ts';
import type { Services } from '../services.ts';
import { ORDERS_TOPIC } from '../topics.ts';
import { checkOrderTotals, type OrderStep } from './order-step.ts';
import { type OrderEvent, type OrderRequest, type OrderStatus, totalInCents } from './schema.ts';

export { ORDERS_TOPIC } from '../topics.ts';

/** The body of POST /orders' 202, and what a retry with the same Idempotency-Key gets again. */
export interface OrderAnswer {
  orderId: string;
  status: OrderStatus;
}

export interface AcceptedOrder extends OrderAnswer {
  /** True when an Idempotency-Key matched an earlier request: nothing new was created. */
  replayed: boolean;
  /** Whether the order went to Kafka or, during an outage, to the fallback list. */
  path?: 'kafka' | 'fallback';
}

/**
 * How long a claimed Idempotency-Key may stay without its answer before a retry takes the
 * order over: well past the function timeout (10 s), so the first request is dead by then.
 */
export const IDEMPOTENCY_TAKEOVER_MS = 30_000;
/** How long a concurrent duplicate waits for the first request's answer before a 409. */
export const IDEMPOTENCY_WAIT_MS = 5_000;
const IDEMPOTENCY_POLL_MS = 50;

const redisOf = (services: Pick<Services, 'redis'>) => requireRedis(services, 'orders');

/** The request's identity: zod rebuilds objects in schema order, so key order does not count. */
const fingerprint = (request: OrderRequest) =>
  createHash('sha256').update(JSON.stringify(request)).digest('base64url');

/** `idempotency:orders:<userId>:<key>`: claimed before the order is created, answered once it was. */
interface IdempotencyRecord {
  orderId: string;
  fingerprint: string;
  /** Epoch ms of the claim (or of the last takeover). */
  claimedAt: number;
  /** The first answer; absent while the first request is still creating the order. */
  answer?: OrderAnswer;
}

// KEYS: the claim. ARGV: the claim as the caller read it (its JSON), the claim to write, TTL.
// Compare-and-set: of several retries that read the same abandoned claim, one replaces it.
const REPLACE_CLAIM = defineScript({
  name: 'replace an idempotency claim',
  lua: `#!lua flags=allow-key-locking
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1`,
  emulate: (call, [claim = ''], [expected = '', next = '', seconds = '']) => {
    if (call('GET', claim) !== expected) return 0;
    call('SET', claim, next, 'EX', seconds);
    return 1;
  },
});

/**
 * Replaces the claim `read` with `next` unless someone changed it since it was read; true when
 * it did. Claims are written only here and by @upstash/redis (JSON.stringify), and JSON.parse
 * keeps the order of keys, so `read` stringifies back to the text stored.
 */
const replaceClaim = async (
  redis: RedisService,
  claim: string,
  read: IdempotencyRecord,
  next: IdempotencyRecord,
): Promise<boolean> =>
  (await runScript(
    redis.client,
    REPLACE_CLAIM,
    [claim],
    [JSON.stringify(read), JSON.stringify(next), TTL.idempotency],
  )) === 1;

/**
 * Stores the pending state (the design's `order:{id}:processing`, EX 300) and the order's
 * long-lived state (`order:{id}:state`, pending) in one request, then sends the order to
 * `orders` (or, while Kafka is down, to the fallback list). Both are written only if absent
 * (NX): a retry finishing the same orderId never moves an order that got further back to
 * pending. If the order cannot be sent anywhere, both are removed again.
 */
const acceptOrder = async (
  services: Pick<Services, 'redis' | 'kafka'>,
  orderId: string,
  request: OrderRequest,
  correlationId: string,
): Promise<AcceptedOrder> => {
  const redis = redisOf(services);
  const order: OrderEvent = {
    eventId: randomUUID(),
    orderId,
    ...request,
    total: totalInCents(request.items) / 100,
    timestamp: new Date().toISOString(),
  };
  const keys = orderKeys(orderId);
  await redis.client
    .pipeline()
    .set(
      keys.processing,
      {
        orderId,
        status: 'pending',
        userId: order.userId,
        items: order.items,
        total: order.total,
        currency: order.currency,
        createdAt: order.timestamp,
      },
      { nx: true, ex: TTL.orderPending },
    )
    .set(keys.state, stateOf(order, 'pending'), { nx: true, ex: TTL.orderState })
    .exec();
  try {
    const outcome = await sendWithFallback(
      services,
      ORDERS_TOPIC,
      { value: order, key: orderId },
      { correlationId },
    );
    recordMetric('OrdersAccepted');
    return { orderId, status: 'pending', replayed: false, path: outcome.path };
  } catch (error) {
    await redis.del(keys.processing, keys.state).catch(() => undefined);
    throw error;
  }
};

/**
 * Creates the order of a claimed Idempotency-Key and records the answer on the claim.
 * When creating it fails, the claim is kept but marked abandoned, so a retry takes it over at
 * once under the same orderId instead of starting a new order: a failure is not always a
 * proof that nothing was sent (a Redis or Kafka request can time out after it took effect),
 * and the consumer processes an orderId once however often it arrives.
 */
const acceptClaimed = async (
  services: Pick<Services, 'redis' | 'kafka'>,
  claim: string,
  record: IdempotencyRecord,
  request: OrderRequest,
  correlationId: string,
): Promise<AcceptedOrder> => {
  const redis = redisOf(services);
  let accepted: AcceptedOrder;
  try {
    accepted = await acceptOrder(services, record.orderId, request, correlationId);
  } catch (error) {
    // Only while the claim is still this request's: a retry may have taken it over meanwhile.
    const abandoned: IdempotencyRecord = { ...record, claimedAt: 0 };
    await replaceClaim(redis, claim, record, abandoned).catch(() => undefined);
    throw error;
  }
  const answer: OrderAnswer = { orderId: accepted.orderId, status: accepted.status };
  // The order is accepted whatever happens here. Should this write fail, a retry waits, then
  // (after IDEMPOTENCY_TAKEOVER_MS) finishes the same orderId: the consumer processes it once.
  await redis
    .set(claim, { ...record, answer } satisfies IdempotencyRecord, { EX: TTL.idempotency })
    .catch(() => undefined);
  return accepted;
};

/**
 * Accepts an order: stores its pending state (EX 300) and sends it to `orders` (or, while
 * Kafka is down, to the fallback list).
 *
 * With an Idempotency-Key (kept 24 h, per user: another user's same key is another claim): the
 * first request claims the key (SET NX) with the orderId it is about to create; a retry with the same body gets the first answer and creates
 * nothing; the same key with another body is a ConflictError. A duplicate arriving while the
 * first is still at work waits up to IDEMPOTENCY_WAIT_MS for its answer (then ConflictError:
 * retry later); a claim whose request failed, or that was left unanswered for
 * IDEMPOTENCY_TAKEOVER_MS (its function died), is finished under the same orderId by the one
 * retry whose compare-and-set replaced it (the others wait for its answer).
 * @throws ValidationError for a malformed Idempotency-Key, ConflictError as above,
 *   RedisUnavailableError / MessageNotAcceptedError when the order could not be stored or sent.
 */
export const createOrder = async (
  services: Pick<Services, 'redis' | 'kafka'>,
  request: OrderRequest,
  { idempotencyKey: clientKey, correlationId }: { idempotencyKey?: string; correlationId: string },
): Promise<AcceptedOrder> => {
  if (clientKey === undefined) return acceptOrder(services, randomUUID(), request, correlationId);
  const claim = orderIdempotencyKey(
    identifier('userId', request.userId),
    identifier('Idempotency-Key', clientKey),
  );
  const redis = redisOf(services);
  const print = fingerprint(request);
  const waitUntil = Date.now() + IDEMPOTENCY_WAIT_MS;
  for (;;) {
    const fresh: IdempotencyRecord = {
      orderId: randomUUID(),
      fingerprint: print,
      claimedAt: Date.now(),
    };
    if ((await redis.client.set(claim, fresh, { nx: true, ex: TTL.idempotency })) !== null) {
      return acceptClaimed(services, claim, fresh, request, correlationId);
    }
    const earlier = await redis.client.get<IdempotencyRecord>(claim);
    if (earlier && earlier.fingerprint !== print) {
      throw new ConflictError(
        'Idempotency-Key was already used with a different request body; use a new key for a new order',
      );
    }
    if (earlier?.answer) return { ...earlier.answer, replayed: true };
    if (earlier && Date.now() - earlier.claimedAt > IDEMPOTENCY_TAKEOVER_MS) {
      const taken: IdempotencyRecord = { ...earlier, claimedAt: Date.now() };
      if (await replaceClaim(redis, claim, earlier, taken)) {
        return acceptClaimed(services, claim, taken, request, correlationId);
      }
      // Another retry took it over first: wait for its answer like any concurrent duplicate.
      continue;
    }
    // Still being created by a concurrent request (or expired a moment ago: claim again).
    if (Date.now() > waitUntil) {
      throw new ConflictError(
        'A request with this Idempotency-Key is still being processed; retry in a few seconds',
      );
    }
    if (earlier) await delay(IDEMPOTENCY_POLL_MS);
  }
};

export type ProcessOutcome = 'completed' | 'failed' | 'duplicate';

/**
 * `order:{id}:state`: the order's status in a few bytes, kept TTL.orderState (15 days) so GET
 * answers a true status for as long as the order's event can come back (parked in the fallback
 * list past the 5 minutes of the pending state, or long after the result's hour), and so a
 * redelivery of a processed order is recognised for as long.
 */
export interface OrderStateRecord {
  orderId: string;
  userId: string;
  status: OrderStatus;
  /** When the order reached this status, ISO 8601. */
  updatedAt: string;
  /** failed: why. */
  error?: string;
  /**
   * failed: the order's processing kept throwing and it went to `orders.dlq`; a replay of the
   * dead letter may still process it, so this failure does not mark it done.
   */
  deadLettered?: true;
}

const stateOf = (
  order: Pick<OrderEvent, 'orderId' | 'userId'>,
  status: OrderStatus,
  failure: { error: string; deadLettered?: true } | Record<string, never> = {},
): OrderStateRecord => ({
  orderId: order.orderId,
  userId: order.userId,
  status,
  updatedAt: new Date().toISOString(),
  ...failure,
});

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
