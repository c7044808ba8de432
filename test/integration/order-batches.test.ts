import { Redis, type Requester } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { processOrders } from '../../functions/process-orders.ts';
import { attemptsKey, deadLetterTopicOf } from '../../lib/kafka/dead-letters.ts';
import { orderKeys } from '../../lib/keys.ts';
import { BEGIN_ORDERS, FINISH_ORDERS } from '../../lib/orders/batch-scripts.ts';
import { checkOrderTotals, type OrderStep } from '../../lib/orders/order-step.ts';
import type { OrderEvent } from '../../lib/orders/schema.ts';
import { createRedisServiceOver } from '../../lib/redis/client.ts';
import type { Services } from '../../lib/services.ts';
import { testKafka, uniqueTopic } from '../support/kafka.ts';
import { inspector, keygen, recordingRedisService, type SentRequest } from '../support/redis.ts';
import { servicesFor } from '../support/services.ts';
import { mskEvent, mskRecord, orderEvent } from './msk-events.ts';

// processOrders takes a batch in two Redis requests: one claims every order that is not done,
// one writes what the steps decided. Each order still runs its step once, in its partition's
// offset order, and a step that throws is retried as in the in-order loop. Real handler, real
// Redis through the gateway, real broker for dead letters.

const stack = inject('stack');
const redis = inspector(stack);
const keys = keygen(redis);
const admin = testKafka(stack.kafkaBrokers).admin();
const topics: string[] = [];
const services: Services = servicesFor(stack);

beforeAll(async () => {
  await admin.connect();
});
afterAll(async () => {
  await services.kafka?.disconnect();
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics({ topics: topics.filter((topic) => existing.has(topic)) });
  await admin.disconnect();
  await keys.cleanup();
});

const order = (overrides: Partial<OrderEvent> = {}) => orderEvent(keys.track, overrides);

const newTopic = (name: string) => {
  const topic = uniqueTopic(name);
  topics.push(topic, deadLetterTopicOf(topic));
  return topic;
};

const RECORD_TIME = 1_700_000_000_000;

/** A record of `order` at `partition`/`offset`, its dead-letter attempts key cleaned up after. */
const recordOf = (topic: string, partition: number, offset: number, value: OrderEvent) => {
  keys.track(attemptsKey('processOrders', { topic, partition, offset, timestamp: RECORD_TIME }));
  return mskRecord(topic, {
    partition,
    offset,
    key: value.orderId,
    value,
    timestamp: RECORD_TIME,
  });
};

/** The default step, counting its runs per order; `throwing` orders throw on their first run. */
const countingStep = (throwing: OrderEvent[] = []) => {
  const runs = new Map<string, number>();
  const step: OrderStep = async (event) => {
    const run = (runs.get(event.orderId) ?? 0) + 1;
    runs.set(event.orderId, run);
    if (run === 1 && throwing.some(({ orderId }) => orderId === event.orderId)) {
      throw new Error('payment provider timed out');
    }
    return checkOrderTotals(event);
  };
  return { step, runs };
};

/** Each order's status, its result's or error's `attempts`, and its attempts key. */
const stored = async (orders: OrderEvent[]) =>
  Promise.all(
    orders.map(async ({ orderId }) => {
      const k = orderKeys(orderId);
      const [result, error, processing, state, attempts] = await redis.mget<
        [
          { attempts: number } | null,
          { attempts: number } | null,
          unknown,
          { status: string } | null,
          number | null,
        ]
      >(k.result, k.error, k.processing, k.state, k.attempts);
      return {
        status: state?.status,
        recorded: (result ?? error)?.attempts ?? null,
        processing: processing !== null,
        attempts,
      };
    }),
  );

/**
 * Redis through the gateway, except that the batch's second request (its results) never
 * arrives: as a function that dies between the two requests.
 */
const dyingBeforeTheResults = () => {
  const http = (
    new Redis({ url: stack.upstashUrl, token: stack.upstashToken }) as unknown as {
      client: Requester;
    }
  ).client;
  return createRedisServiceOver({
    request: (request) => {
      const body = (request.path?.length ? request.body : [request.body]) as unknown[][];
      if (body.some(([, lua]) => lua === FINISH_ORDERS.lua)) {
        return Promise.reject(new Error('the function died before writing the results'));
      }
      return http.request(request);
    },
  });
};

/** Which script each request sent ('begin', 'finish', or the commands' names). */
const scriptsOf = (requests: SentRequest[]) =>
  requests.map(({ commands }) =>
    commands.map(([name, lua]) =>
      lua === BEGIN_ORDERS.lua ? 'begin' : lua === FINISH_ORDERS.lua ? 'finish' : String(name),
    ),
  );

describe('processOrders takes a batch in two Redis requests', () => {
  it('claims a batch of two partitions in ONE request and writes it in ONE more; delivered again, ONE request finds every order done', async () => {
    const topic = newTopic('batch-requests');
    const orders = Array.from({ length: 6 }, (_, n) => order(n === 4 ? { currency: 'XTS' } : {}));
    const event = mskEvent(orders.map((value, n) => recordOf(topic, n % 2, n, value)));
    const recording = recordingRedisService(stack);
    const { step, runs } = countingStep();
    const handler = processOrders({
      services: () => ({ ...services, redis: recording.redis }),
      step,
    });

    const first = await handler(structuredClone(event));
    const once = await stored(orders);
    const firstRequests = scriptsOf(recording.requests);
    recording.requests.length = 0;
    const again = await handler(structuredClone(event));

    expect([first, again]).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(firstRequests).toEqual([['begin'], ['finish']]);
    expect(scriptsOf(recording.requests)).toEqual([['begin']]);
    expect(once).toEqual(
      orders.map((_, n) => ({
        status: n === 4 ? 'failed' : 'completed',
        recorded: 1,
        processing: false,
        attempts: 1,
      })),
    );
    expect(await stored(orders)).toEqual(once);
    expect(orders.map(({ orderId }) => runs.get(orderId))).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('processes an orderId that is in the batch three times (two partitions) once', async () => {
    const topic = newTopic('batch-copies');
    const [twice, other] = [order(), order()];
    const event = mskEvent([
      recordOf(topic, 0, 0, twice),
      recordOf(topic, 0, 1, { ...twice }),
      recordOf(topic, 0, 2, other),
      recordOf(topic, 1, 0, { ...twice }),
    ]);
    const { step, runs } = countingStep();

    const response = await processOrders({ services: () => services, step })(event);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(runs.get(twice.orderId)).toBe(1);
    expect(await stored([twice, other])).toEqual([
      { status: 'completed', recorded: 1, processing: false, attempts: 1 },
      { status: 'completed', recorded: 1, processing: false, attempts: 1 },
    ]);
  });

  it('stops a partition at an order whose step throws: the ones before complete, the thrower and those after are redelivered and each processed once', async () => {
    const topic = newTopic('batch-throws');
    const [before, thrower, after, last, elsewhere] = [order(), order(), order(), order(), order()];
    const records = [
      recordOf(topic, 0, 0, before),
      recordOf(topic, 0, 1, thrower),
      recordOf(topic, 0, 2, after),
      recordOf(topic, 0, 3, last),
      // A copy of the thrower in another partition follows it: redelivered too, with what
      // follows it there.
      recordOf(topic, 1, 7, { ...thrower }),
      recordOf(topic, 1, 8, elsewhere),
    ];
    const { step, runs } = countingStep([thrower]);
    const handler = processOrders({ services: () => services, step });

    const first = await handler(mskEvent(records));
    const between = await stored([before, thrower, after, last]);
    // Lambda redelivers each partition from its failed offset.
    const redelivered = await handler(mskEvent(records.slice(1)));

    expect(first.batchItemFailures.map(({ itemIdentifier }) => itemIdentifier)).toEqual([
      { partition: `${topic}-0`, offset: 1 },
      { partition: `${topic}-1`, offset: 7 },
    ]);
    expect(between).toEqual([
      { status: 'completed', recorded: 1, processing: false, attempts: 1 },
      // The thrower's run counts; the orders after it were claimed and given back.
      { status: 'processing', recorded: null, processing: true, attempts: 1 },
      { status: 'processing', recorded: null, processing: true, attempts: 0 },
      { status: 'processing', recorded: null, processing: true, attempts: 0 },
    ]);
    expect(redelivered).toEqual({ batchItemFailures: [] });
    expect(await stored([before, thrower, after, last, elsewhere])).toEqual([
      { status: 'completed', recorded: 1, processing: false, attempts: 1 },
      { status: 'completed', recorded: 2, processing: false, attempts: 2 },
      { status: 'completed', recorded: 1, processing: false, attempts: 1 },
      { status: 'completed', recorded: 1, processing: false, attempts: 1 },
      { status: 'completed', recorded: 1, processing: false, attempts: 1 },
    ]);
    expect(
      [before, thrower, after, last, elsewhere].map(({ orderId }) => runs.get(orderId)),
    ).toEqual([1, 2, 1, 1, 1]);
  });

  it('processes a dead-lettered order again when its dead letter is replayed', async () => {
    const topic = newTopic('batch-replay');
    const stuck = order();
    const { step } = countingStep([stuck]);
    const handler = processOrders({ services: () => services, step, maxAttempts: 1 });

    const first = await handler(mskEvent([recordOf(topic, 0, 0, stuck)]));
    const deadLettered = await redis.get<{ deadLettered?: boolean }>(
      orderKeys(stuck.orderId).error,
    );
    const replayed = await handler(mskEvent([recordOf(topic, 0, 1, stuck)]));

    expect([first, replayed]).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(deadLettered).toMatchObject({ deadLettered: true, attempts: 1 });
    expect(await redis.get(orderKeys(stuck.orderId).error)).toBeNull();
    expect(await stored([stuck])).toEqual([
      { status: 'completed', recorded: 2, processing: false, attempts: 2 },
    ]);
  });

  it('leaves every claimed order processing with its attempts one up when it dies between the two requests; the redelivery processes each once more', async () => {
    const topic = newTopic('batch-dies');
    const orders = [order(), order(), order()];
    const event = mskEvent(orders.map((value, n) => recordOf(topic, 0, n, value)));
    const { step, runs } = countingStep();

    const dying = processOrders({
      services: () => ({ ...services, redis: dyingBeforeTheResults() }),
      step,
    });
    await expect(dying(structuredClone(event))).rejects.toThrow(/died before writing/);
    const leftBehind = await stored(orders);
    const redelivered = await processOrders({ services: () => services, step })(
      structuredClone(event),
    );

    expect(leftBehind).toEqual(
      orders.map(() => ({ status: 'processing', recorded: null, processing: true, attempts: 1 })),
    );
    expect(redelivered).toEqual({ batchItemFailures: [] });
    expect(await stored(orders)).toEqual(
      orders.map(() => ({ status: 'completed', recorded: 2, processing: false, attempts: 2 })),
    );
    expect(orders.map(({ orderId }) => runs.get(orderId))).toEqual([2, 2, 2]);
  });
});
