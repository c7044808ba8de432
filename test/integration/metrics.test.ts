import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { processOrders } from '../../functions/process-orders.ts';
import { drainFallback } from '../../lib/fallback/drain.ts';
import { fallbackListKey, sendWithFallback } from '../../lib/fallback/messages.ts';
import { deadLetterTopicOf } from '../../lib/kafka/dead-letters.ts';
import { orderIdempotencyKey, orderKeys, userKeys } from '../../lib/keys.ts';
import { scheduledHandler, withInvocationLog } from '../../lib/lambda/invocation-log.ts';
import { METRICS_NAMESPACE, writeMetricsTo } from '../../lib/metrics.ts';
import { createOrder } from '../../lib/orders/create-order.ts';
import type { Services } from '../../lib/services.ts';
import { httpUserSource } from '../../lib/users/user-source.ts';
import { getUserProfile } from '../../lib/users/users.ts';
import { createTopic, testKafka, uniqueTopic } from '../support/kafka.ts';
import { inspector, keygen } from '../support/redis.ts';
import { CLOSED_BROKER, servicesFor } from '../support/services.ts';
import { mskEvent, mskRecord, orderEvent } from './msk-events.ts';

// Each metric produced through the code that records it in production (issue 17): the
// consumer handlers as the functions build them, the domain code inside the invocation wrapper
// every function uses (withInvocationLog: one EMF flush per invocation), against the real
// broker and the real Redis. The EMF lines are captured where metrics.ts writes them.

const stack = inject('stack');
const redis = inspector(stack);
const keys = keygen(redis);
const topics: string[] = [];
const opened: Services[] = [];
const services = (overrides: Parameters<typeof servicesFor>[1] = {}) => {
  const built = servicesFor(stack, overrides);
  opened.push(built);
  return built;
};

interface Emf {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [member: string]: unknown;
}

let lines: Emf[] = [];
beforeEach(() => {
  lines = [];
  writeMetricsTo((line) => lines.push(JSON.parse(line) as Emf));
});
afterEach(() => writeMetricsTo(undefined));

afterAll(async () => {
  await Promise.all(opened.map((s) => s.kafka?.disconnect()));
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics({ topics: topics.filter((topic) => existing.has(topic)) });
  await admin.disconnect();
  await keys.cleanup();
});

/**
 * The EMF line holding `name`, with its definition and dimensions, asserting the shape
 * CloudWatch needs: our namespace, the unit, one dimension set naming members at the root.
 */
const metric = (name: string, dimensions: Record<string, string>) => {
  const found = lines.filter(
    (line) =>
      name in line && Object.entries(dimensions).every(([key, value]) => line[key] === value),
  );
  expect(found, `an EMF line with ${name} and ${JSON.stringify(dimensions)}`).toHaveLength(1);
  const line = found[0] as Emf;
  const [directive] = line._aws.CloudWatchMetrics;
  expect(directive?.Namespace).toBe(METRICS_NAMESPACE);
  expect(directive?.Dimensions).toEqual([Object.keys(dimensions).sort()]);
  expect(typeof line._aws.Timestamp).toBe('number');
  return {
    unit: directive?.Metrics.find((definition) => definition.Name === name)?.Unit,
    value: line[name],
  };
};

const dims = (fn: string, topic?: string) => ({
  function: fn,
  stage: 'local',
  ...(topic === undefined ? {} : { topic }),
});

const invocation = <R>(fn: string, run: () => Promise<R>) =>
  withInvocationLog({ keys: { function: fn } }, run, () => ({ level: 'info', fields: {} }));

describe('the metrics the functions write, through the real code paths', () => {
  it('an order accepted (createOrder) and then completed (processOrders)', async () => {
    const live = services();
    const order = orderEvent(keys.track);
    const { userId, items, currency } = order;
    const idempotencyKey = randomUUID();
    keys.track(orderIdempotencyKey(userId, idempotencyKey));

    const accepted = await invocation('createOrder', () =>
      createOrder(
        live,
        { userId, items, currency },
        { correlationId: 'metrics-test', idempotencyKey },
      ),
    );
    for (const key of Object.values(orderKeys(accepted.orderId))) keys.track(key);
    expect(metric('OrdersAccepted', dims('createOrder'))).toEqual({ unit: 'Count', value: 1 });

    const topic = uniqueTopic('metrics-orders');
    topics.push(deadLetterTopicOf(topic));
    const handler = processOrders({ services: () => live });
    const response = await handler(
      mskEvent([mskRecord(topic, { offset: 0, key: order.orderId, value: order })]),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(metric('OrdersCompleted', dims('processOrders'))).toEqual({ unit: 'Count', value: 1 });
  });

  it('a poison record dead-lettered, counted by its topic', async () => {
    const live = services();
    const topic = uniqueTopic('metrics-poison');
    await createTopic(stack.kafkaBrokers, topic);
    topics.push(topic, deadLetterTopicOf(topic));
    const handler = processOrders({ services: () => live });

    const response = await handler(
      mskEvent([mskRecord(topic, { offset: 0, value: Buffer.from([0x7b, 0xff, 0xfe]) })]),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(metric('DeadLettered', dims('processOrders', topic))).toEqual({
      unit: 'Count',
      value: 1,
    });
  });

  it('a message parked while the broker is down, then drained, with the backlog after the drain', async () => {
    const topic = uniqueTopic('metrics-parked');
    await createTopic(stack.kafkaBrokers, topic);
    topics.push(topic);
    keys.track(fallbackListKey(topic));

    await invocation('trackEvents', () =>
      sendWithFallback(services({ kafkaBrokers: CLOSED_BROKER }), topic, [
        { value: { seq: 1 } },
        { value: { seq: 2 } },
      ]),
    );
    expect(metric('FallbackParked', dims('trackEvents'))).toEqual({ unit: 'Count', value: 2 });

    lines = [];
    const drain = scheduledHandler(
      'drainFallback',
      () => drainFallback(services(), [topic]),
      (results) => ({ results }),
    );
    const [result] = await drain({});
    expect(result).toMatchObject({ sent: 2, remaining: 0 });
    expect(metric('FallbackDrained', dims('drainFallback'))).toEqual({ unit: 'Count', value: 2 });
    expect(metric('FallbackBacklog', dims('drainFallback', topic))).toEqual({
      unit: 'Count',
      value: 0,
    });
  });

  it('a cache miss, then a cache hit (getUser)', async () => {
    const live = services();
    const userId = `user-metrics-${randomUUID().slice(0, 8)}`;
    keys.track(userKeys(userId).profile);
    const source = httpUserSource(inject('userSourceUrl'));

    await invocation('getUser', () => getUserProfile(live, userId, source));
    expect(metric('CacheMisses', dims('getUser'))).toEqual({ unit: 'Count', value: 1 });

    lines = [];
    const second = await invocation('getUser', () => getUserProfile(live, userId, source));
    expect(second.cache).toBe('hit');
    expect(metric('CacheHits', dims('getUser'))).toEqual({ unit: 'Count', value: 1 });
  });
});
