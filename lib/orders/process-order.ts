import { identifier, orderKeys, TTL } from '../keys.ts';
import { recordMetric } from '../metrics.ts';
import { runScript } from '../redis/scripts.ts';
import { requireRedis } from '../redis/service.ts';
import type { Services } from '../services.ts';
import {
  BEGIN_ORDERS,
  encodeBegin,
  encodeFinish,
  FINISH_ORDERS,
  type RunWrite,
} from './batch-scripts.ts';
import { stateOf } from './order-status.ts';
import { checkOrderTotals, type OrderOutcome, type OrderStep } from './order-step.ts';
import type { OrderEvent } from './schema.ts';

const redisOf = (services: Pick<Services, 'redis'>) => requireRedis(services, 'orders');

export type ProcessOutcome = 'completed' | 'failed' | 'duplicate';

let clockMs = Number.NaN;
let clockIso = '';
/**
 * Now in ISO 8601, formatted once per millisecond: a batch finishes many orders within one,
 * and formatting a date for each cost as much as decoding its record.
 */
const isoNow = (): string => {
  const ms = Date.now();
  if (ms !== clockMs) {
    clockMs = ms;
    clockIso = new Date(ms).toISOString();
  }
  return clockIso;
};

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
  failedAt: isoNow(),
  ...(deadLettered ? { deadLettered: true as const } : {}),
});

/** One order of a batch, as claimOrders keeps it. */
interface Claim {
  order: OrderEvent;
  keys: ReturnType<typeof orderKeys>;
  /** Its attempts after the claim; 0: it was done already (a duplicate). */
  attempts: number;
  /** For a later copy of an orderId in the batch: the first copy, which it follows. */
  first?: Claim;
  /** How its run ended ('retry': its step threw, or it was released without a run). */
  ended?: Ending;
  /** Later copies waiting for it to end (rare: no promise per order otherwise). */
  waiting?: Array<(ending: Ending) => void>;
}

type Ending = ProcessOutcome | 'retry';

const end = (claim: Claim, ending: Ending): void => {
  claim.ended = ending;
  for (const wake of claim.waiting ?? []) wake(ending);
};

const endOf = (claim: Claim): Ending | Promise<Ending> =>
  claim.ended ??
  new Promise((resolve) => {
    claim.waiting ??= [];
    claim.waiting.push(resolve);
  });

/** What claimOrders hands back: the steps to run, then one write of what they decided. */
export interface OrderBatch {
  /**
   * Runs the order's step (or skips a duplicate) and keeps what it decided for `finish`.
   * A later copy of an orderId in the batch waits for its first copy: a duplicate once that is
   * done, a throw (retry it) when that threw or was released.
   * @throws when the step throws: the record must be settled as failed.
   */
  run: (order: OrderEvent) => Promise<ProcessOutcome>;
  /** Gives back the claims of orders that will not run in this invocation (their partition stopped). */
  release: (orders: readonly OrderEvent[]) => void;
  /** Writes the results and errors of the runs and the releases: one request. */
  finish: () => Promise<void>;
}

/**
 * Claims a batch of orders for processing, as the design's `processOrder` over many orders in
 * two Redis requests: this one (BEGIN_ORDERS) sets each order's processing state (EX 600) and
 * `order:{id}:state`, and `finish` (FINISH_ORDERS) writes `order:{id}:result` (EX 3600) or
 * `order:{id}:error` = `{error, timestamp, ...}` (EX 86400) and the state, processing deleted.
 * Each claim counts itself in `order:{id}:attempts`, and the result or error records that count
 * as `attempts`: 1 means processed once; more means a run failed and was retried (or two
 * deliveries raced). An order that was processed (result; state completed, or failed by its
 * step; an error not dead-lettered) is left alone ('duplicate'), for 15 days; one that failed
 * only by going to `orders.dlq` is processed again when its dead letter is replayed.
 *
 * What others see: the orders of a batch go to `processing` together, and their results land
 * together when the batch finishes. A function that dies in between leaves every claimed order
 * `processing` with its attempts one up: redelivered, each is claimed and run again (its step
 * too, which is why a step with outside effects must be idempotent by orderId). An order
 * released (its partition stopped before it) gets its attempt back, so attempts count runs.
 * Only the first copy of an orderId in the batch is claimed; later copies follow it.
 * @throws when Redis fails: none of the orders may be run (the claim may or may not have been
 *   written; a claim written and never finished is the crash above).
 */
export const claimOrders = async (
  services: Pick<Services, 'redis'>,
  orders: readonly OrderEvent[],
  step: OrderStep = checkOrderTotals,
): Promise<OrderBatch> => {
  const redis = redisOf(services);
  const claims = new Map<OrderEvent, Claim>();
  const firsts = new Map<string, Claim>();
  const begin: Array<{ keys: Claim['keys']; processing: string; state: string }> = [];
  const claimed: Claim[] = [];
  // The batch's orders are claimed by one request: one moment for all.
  const startedAt = isoNow();
  for (const order of orders) {
    const first = firsts.get(order.orderId);
    const claim: Claim = {
      order,
      keys: first?.keys ?? orderKeys(identifier('orderId', order.orderId)),
      attempts: 0,
      ...(first ? { first } : {}),
    };
    claims.set(order, claim);
    if (first) continue;
    firsts.set(order.orderId, claim);
    claimed.push(claim);
    begin.push({
      keys: claim.keys,
      processing: JSON.stringify({
        status: 'processing',
        ...order,
        ...baseOf(order),
        startedAt,
      }),
      state: JSON.stringify(stateOf(order, 'processing', {}, startedAt)),
    });
  }
  // Through the client that leaves replies as they are: the reply is numbers either way.
  const { keys, args } = encodeBegin(begin);
  const replies =
    claimed.length === 0 ? [] : await runScript(redis.unparsed, BEGIN_ORDERS, keys, args);
  claimed.forEach((claim, i) => {
    claim.attempts = Number(replies[i]);
  });

  const written: RunWrite[] = [];
  const released: Claim[] = [];
  const run = async (order: OrderEvent): Promise<ProcessOutcome> => {
    const claim = claims.get(order);
    if (!claim) throw new Error(`order ${order.orderId} is not one of the batch claimed`);
    if (claim.first) {
      if ((await endOf(claim.first)) === 'retry') {
        end(claim, 'retry');
        throw new Error(
          `order ${order.orderId} is in the batch twice and its first copy was not processed; try again`,
        );
      }
      return skip(claim);
    }
    if (claim.attempts === 0) return skip(claim);
    let outcome: OrderOutcome;
    try {
      outcome = await step(order);
    } catch (error) {
      end(claim, 'retry');
      throw error;
    }
    written.push(outcomeWrite(claim, outcome));
    const processed = outcome.ok ? 'completed' : 'failed';
    end(claim, processed);
    return processed;
  };
  const release = (unrun: readonly OrderEvent[]) => {
    for (const order of unrun) {
      const claim = claims.get(order);
      if (!claim) continue;
      if (!claim.first && claim.attempts > 0) released.push(claim);
      end(claim, 'retry');
    }
  };
  const finish = async () => {
    if (written.length === 0 && released.length === 0) return;
    const finishing = encodeFinish(
      written,
      released.map((claim) => claim.keys),
    );
    await runScript(redis.unparsed, FINISH_ORDERS, finishing.keys, finishing.args);
    for (const { target, keys: own } of written) {
      recordMetric(target === own.result ? 'OrdersCompleted' : 'OrdersFailed');
    }
  };
  return { run, release, finish };
};

const baseOf = (order: OrderEvent) => ({
  orderId: order.orderId,
  userId: order.userId,
  currency: order.currency,
  createdAt: order.timestamp,
});

const skip = (claim: Claim): ProcessOutcome => {
  recordMetric('DuplicatesSkipped');
  end(claim, 'duplicate');
  return 'duplicate';
};

/** What FINISH_ORDERS writes for a run: the result or the error, and the state. */
const outcomeWrite = ({ order, keys, attempts }: Claim, outcome: OrderOutcome): RunWrite => {
  if (outcome.ok) {
    const { ok: _ok, ...totals } = outcome;
    return {
      keys,
      target: keys.result,
      // The fields written out, not spread from baseOf: spreading an object first and adding
      // fields after it made this one JSON.stringify cost ~14 µs instead of ~3 (measured).
      value: JSON.stringify({
        orderId: order.orderId,
        userId: order.userId,
        currency: order.currency,
        createdAt: order.timestamp,
        status: 'completed',
        items: order.items,
        ...totals,
        attempts,
        completedAt: isoNow(),
      }),
      ttl: TTL.orderResult,
      state: JSON.stringify(stateOf(order, 'completed', {}, isoNow())),
    };
  }
  return {
    keys,
    target: keys.error,
    value: JSON.stringify(errorOf(order, outcome.reason, attempts, false)),
    ttl: TTL.orderError,
    state: JSON.stringify(stateOf(order, 'failed', { error: outcome.reason }, isoNow())),
  };
};

/**
 * Processes one order from the topic: claimOrders with a batch of one (two Redis requests
 * around the step).
 * @throws when Redis fails or the step throws: the record must be retried (and after its
 *   attempts, failOrder records its error).
 */
export const processOrder = async (
  services: Pick<Services, 'redis'>,
  order: OrderEvent,
  step: OrderStep = checkOrderTotals,
): Promise<ProcessOutcome> => {
  const batch = await claimOrders(services, [order], step);
  const outcome = await batch.run(order);
  await batch.finish();
  return outcome;
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
