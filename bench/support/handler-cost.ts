import type { Requester } from '@upstash/redis';
import type { MSKEvent, MSKRecord } from 'aws-lambda';
import type { AnalyticsEvent } from '../../lib/analytics/schema.ts';
import { createEmbeddedKafkaService } from '../../lib/kafka/embedded-service.ts';
import type { KafkaHandler } from '../../lib/lambda/consumer/handler.ts';
import type { ConsumerServices } from '../../lib/lambda/consumer/kafka-consumer.ts';
import type { OrderEvent } from '../../lib/orders/schema.ts';
import { createRedisServiceOver } from '../../lib/redis/client.ts';
import { EmbeddedKafkaLog } from '../../local/embedded/kafka-log.ts';
import { Keyspace } from '../../local/embedded/redis-keyspace.ts';
import { embeddedRequester } from '../../local/embedded/redis-requester.ts';
import { lambdaContext, loadEvent } from './lambda.ts';
import { median, percentile } from './stats.ts';

/**
 * What a consumer function's own code costs per record, beside the decode floor of the same
 * records, in the same process and the same rounds.
 *
 * The floor: base64-decode, UTF-8-decode and JSON.parse each record's value, nothing else (what
 * any consumer of these records must do at least).
 *
 * The handler: the function as deployed (its factory in functions/), invoked with batches of
 * `batchSize` in one partition, its Redis and Kafka served in this process by embedded mode's
 * store and log (local/embedded/: the same @upstash/redis client, its commands answered from
 * memory instead of over HTTP). The time spent inside the store answering (what Redis would do
 * on its own CPU) is measured around each request and taken out, so what remains is the
 * function's work: decoding, validation, aggregation, building and parsing the client's
 * requests. Waiting for the network is not in it; the `consumer` passes against the stack show
 * that part for processAnalytics.
 */

export interface CostWorkload {
  name: string;
  /** What its records are, for the table. */
  records: string;
  topic: string;
  /** Each record's key and JSON value. */
  values: Array<{ key: string; value: unknown }>;
  build: (services: () => ConsumerServices) => KafkaHandler;
}

export interface HandlerCost {
  name: string;
  records: string;
  /** Records per round. */
  count: number;
  /** Batches timed (every round's). */
  batches: number;
  /** Median over batches of the floor's microseconds per record (these records). */
  floorMicros: number;
  /** Median over batches of the handler's own microseconds per record (store time taken out). */
  handlerMicros: number;
  /** Median over batches of the embedded store's microseconds per record (taken out above). */
  storeMicros: number;
  /** Handler / floor of each batch (paired: timed one after the other), the median. */
  ratio: number;
  ratioP25: number;
  ratioP75: number;
  /** Records the handler reported failed, over all rounds (0: every record was handled). */
  failures: number;
}

/**
 * The floor over one event's records: base64 -> UTF-8 -> JSON.parse, and nothing else: no
 * validation (Node's decoders, which accept anything), so no consumer can go below it.
 */
const decodeFloor = (event: MSKEvent): number => {
  let parsed = 0;
  for (const records of Object.values(event.records)) {
    for (const record of records) {
      const value = JSON.parse(Buffer.from(record.value, 'base64').toString('utf8'));
      if (value !== null) parsed += 1;
    }
  }
  return parsed;
};

const bytes = (text: string) => [...Buffer.from(text)];

/** `aws:kafka` events of `batchSize` records each, one partition, offsets from 0. */
const eventTexts = (workload: CostWorkload, batchSize: number): string[] => {
  const template = loadEvent<MSKEvent>('msk-user-events.json');
  const texts: string[] = [];
  for (let from = 0; from < workload.values.length; from += batchSize) {
    const records: MSKRecord[] = workload.values
      .slice(from, from + batchSize)
      .map(({ key, value }, i) => ({
        topic: workload.topic,
        partition: 0,
        offset: from + i,
        timestamp: Date.now(),
        timestampType: 'CREATE_TIME',
        key: Buffer.from(key).toString('base64'),
        value: Buffer.from(JSON.stringify(value)).toString('base64'),
        headers: [{ 'x-correlation-id': bytes(`bench-cost-${from + i}`) }],
      }));
    texts.push(JSON.stringify({ ...template, records: { [`${workload.topic}-0`]: records } }));
  }
  return texts;
};

/** A requester that adds the time spent inside `inner` to `spent.ms`. */
const timedRequester = (inner: Requester, spent: { ms: number }): Requester => ({
  request: async (request) => {
    const started = performance.now();
    try {
      return await inner.request(request);
    } finally {
      spent.ms += performance.now() - started;
    }
  },
});

/** One batch, timed: the floor over its records, then the handler over the same records. */
interface BatchSample {
  floorMs: number;
  handlerMs: number;
  storeMs: number;
}

/**
 * One round of one workload, batch by batch: the floor of a batch right before the handler
 * of the same batch, so a busy moment of this shared machine hits both alike.
 */
const round = async (
  workload: CostWorkload,
  texts: string[],
): Promise<{ batches: BatchSample[]; failures: number }> => {
  // As the Lambda runtime hands the handler a parsed event: parsed before the clock starts.
  const events = texts.map((text) => JSON.parse(text) as MSKEvent);
  const floorEvents = texts.map((text) => JSON.parse(text) as MSKEvent);
  // Fresh state each round: a second round over the same offsets and ids would be skipped
  // as a redelivery, which is cheaper than the work being measured.
  const spent = { ms: 0 };
  const services: ConsumerServices = {
    redis: createRedisServiceOver(timedRequester(embeddedRequester(new Keyspace()), spent)),
    kafka: createEmbeddedKafkaService(new EmbeddedKafkaLog()),
  };
  const handler = workload.build(() => services);
  const context = lambdaContext(workload.name);
  const batches: BatchSample[] = [];
  let failures = 0;
  for (const [i, event] of events.entries()) {
    let started = performance.now();
    decodeFloor(floorEvents[i] as MSKEvent);
    const floorMs = performance.now() - started;
    spent.ms = 0;
    started = performance.now();
    const response = await handler(event, context);
    const handlerMs = performance.now() - started;
    failures += response.batchItemFailures.length;
    batches.push({ floorMs, handlerMs: handlerMs - spent.ms, storeMs: spent.ms });
  }
  return { batches, failures };
};

/**
 * Each workload `rounds` times (after one warm-up round), workloads interleaved; medians over
 * every batch of every round.
 */
export const measureHandlerCosts = async (
  workloads: CostWorkload[],
  { batchSize, rounds }: { batchSize: number; rounds: number },
): Promise<HandlerCost[]> => {
  const texts = workloads.map((workload) => eventTexts(workload, batchSize));
  const samples = workloads.map(() => [] as BatchSample[]);
  const failures = workloads.map(() => 0);
  for (let r = 0; r <= rounds; r += 1) {
    for (const [i, workload] of workloads.entries()) {
      const result = await round(workload, texts[i] as string[]);
      if (r === 0) continue;
      samples[i]?.push(...result.batches);
      failures[i] = (failures[i] ?? 0) + result.failures;
    }
  }
  return workloads.map((workload, i) => {
    const list = samples[i] as BatchSample[];
    const perRecord = (ms: number) => (ms * 1000) / batchSize;
    const ratios = list.map((one) => one.handlerMs / one.floorMs);
    return {
      name: workload.name,
      records: workload.records,
      count: workload.values.length,
      batches: list.length,
      floorMicros: median(list.map((one) => perRecord(one.floorMs))),
      handlerMicros: median(list.map((one) => perRecord(one.handlerMs))),
      storeMicros: median(list.map((one) => perRecord(one.storeMs))),
      ratio: median(ratios),
      ratioP25: percentile(
        [...ratios].sort((x, y) => x - y),
        25,
      ),
      ratioP75: percentile(
        [...ratios].sort((x, y) => x - y),
        75,
      ),
      failures: failures[i] ?? 0,
    };
  });
};

const SKUS = ['SKU-1', 'SKU-22', 'SKU-333', 'SKU-4444'];

/** `count` valid orders of 1-3 items, as POST /orders sends them to `orders`. */
const orderValues = (random: () => number, count: number, runId: string) =>
  Array.from({ length: count }, (_, i) => {
    const items = Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({
      sku: SKUS[Math.floor(random() * SKUS.length)] as string,
      quantity: 1 + Math.floor(random() * 3),
      price: Math.round(random() * 10_000) / 100,
    }));
    const cents = items.reduce(
      (sum, item) => sum + item.quantity * Math.round(item.price * 100),
      0,
    );
    const order: OrderEvent = {
      eventId: `${runId}-order-event-${i}`,
      orderId: `${runId}-order-${i}`,
      userId: `bench-user-${i % 50}`,
      items,
      currency: 'EUR',
      total: cents / 100,
      timestamp: new Date().toISOString(),
    };
    return { key: order.orderId, value: order };
  });

/** `count` user.events that each do work: USER_LOGGED_IN (a session stored) and USER_UPDATED alternately. */
const userValues = (count: number, runId: string) =>
  Array.from({ length: count }, (_, i) => {
    const userId = `bench-user-${i % 50}`;
    const value =
      i % 2 === 0
        ? {
            eventId: `${runId}-user-${i}`,
            type: 'USER_LOGGED_IN',
            userId,
            sessionId: `bench-session-${runId}-${i}`,
            timestamp: new Date().toISOString(),
            sessionData: { device: 'web', locale: 'en-IN' },
          }
        : { eventId: `${runId}-user-${i}`, type: 'USER_UPDATED', userId };
    return { key: userId, value };
  });

/**
 * The three consumers' workloads: the analytics events of the other passes, orders, user
 * events. The functions are imported here, after the caller set their environment (LOG_LEVEL).
 */
export const consumerWorkloads = async (
  analytics: readonly AnalyticsEvent[],
  random: () => number,
  runId: string,
): Promise<CostWorkload[]> => {
  const { processAnalytics } = await import('../../functions/process-analytics.ts');
  const { processOrders } = await import('../../functions/process-orders.ts');
  const { userCacheEvents } = await import('../../functions/user-cache-events.ts');
  return [
    {
      name: 'processAnalytics',
      records: 'analytics events (85 % USER_ACTION, 10 % USER_LOGGED_IN, 5 % system)',
      topic: 'user.events',
      values: analytics.map((event) => ({
        key: String(event.userId ?? event.eventId),
        value: event,
      })),
      build: (services) => processAnalytics({ services }),
    },
    {
      name: 'processOrders',
      records: 'orders of 1-3 items, each new (claimed and finished with its batch)',
      topic: 'orders',
      values: orderValues(random, analytics.length, runId),
      build: (services) => processOrders({ services }),
    },
    {
      name: 'userCacheEvents',
      records: 'USER_LOGGED_IN and USER_UPDATED, alternately (each a write)',
      topic: 'user.events',
      values: userValues(analytics.length, runId),
      build: (services) => userCacheEvents({ services }),
    },
  ];
};
