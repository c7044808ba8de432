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
import { stateOf } from './order-status.ts';
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
