import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { processAnalytics } from '../../functions/process-analytics.ts';
import { processOrders } from '../../functions/process-orders.ts';
import { userCacheEvents } from '../../functions/user-cache-events.ts';
import { appliedOffsetKey } from '../../lib/analytics/analytics.ts';
import { dailyKeys, orderKeys, sessionKey, userKeys } from '../../lib/keys.ts';
import type { ConsumerHooks } from '../../lib/lambda/consumer/record-failure.ts';
import { checkOrderTotals, type OrderStep } from '../../lib/orders/order-step.ts';
import type { OrderEvent } from '../../lib/orders/schema.ts';
import type { Services } from '../../lib/services.ts';
import {
  type InProcessHandler,
  inProcessInvoker,
  type KafkaMapping,
  type MskBridge,
  silentLog,
  startMskBridge,
} from '../../local/msk-bridge/index.ts';
import { testKafka, testProducer, uniqueTopic } from '../support/kafka.ts';
import { inspector, keygen, recordingRedisService } from '../support/redis.ts';
import { servicesFor } from '../support/services.ts';
import { eventually } from '../support/wait.ts';
import { FIXTURE_CLUSTER, mskEvent, mskRecord, orderEvent, uniqueDay } from './msk-events.ts';

// Failure tests 4c and 4d of issue 6: Kafka delivers at least once, so the consumers must turn
// a batch delivered again (whole, or after the function died half way) into effects that
// happened once. Real handlers, real Redis through the gateway, real broker; the bridge plays
// the redelivery as an MSK mapping does.

const stack = inject('stack');
const redis = inspector(stack);
const keys = keygen(redis);
const kafka = testKafka(stack.kafkaBrokers);
const admin = kafka.admin();
const producer = testProducer(kafka);
const topics: string[] = [];
const bridges: MskBridge[] = [];
const services: Services = servicesFor(stack);

beforeAll(async () => {
  await Promise.all([admin.connect(), producer.connect()]);
});
afterAll(async () => {
  await Promise.allSettled(bridges.map((bridge) => bridge.stop()));
  await Promise.all([producer.disconnect(), services.kafka?.disconnect()]);
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics({ topics: topics.filter((topic) => existing.has(topic)) });
  await admin.disconnect();
  await keys.cleanup();
});

const newTopic = async (name: string, partitions = 1) => {
  const topic = uniqueTopic(name);
  await admin.createTopics({
    topics: [{ topic, numPartitions: partitions }],
    waitForLeaders: true,
  });
  topics.push(topic, `${topic}.dlq`);
  return topic;
};

// --- orders ----------------------------------------------------------------------------------

const order = (overrides: Partial<OrderEvent> = {}) => orderEvent(keys.track, overrides);

/** The default order step, counting how often it ran for each order. */
const countingStep = () => {
  const runs = new Map<string, number>();
  const step: OrderStep = async (event) => {
    runs.set(event.orderId, (runs.get(event.orderId) ?? 0) + 1);
    return checkOrderTotals(event);
  };
  return { step, runs };
};

/** Each order's result and error keys as stored (null when absent). */
const orderOutcomes = async (orders: OrderEvent[]) =>
  Promise.all(
    orders.map(async ({ orderId }) => {
      const { result, error, processing } = orderKeys(orderId);
      return redis.mget<[unknown, unknown, unknown]>(result, error, processing);
    }),
  );

// --- analytics -------------------------------------------------------------------------------

/** The cluster ARN of the bridge's events in this file. */
const TEST_CLUSTER = 'arn:aws:kafka:us-east-1:000000000000:cluster/narad-test/00000000-1';

const analyticsScenario = (topic: string, partitions: number) => {
  const date = uniqueDay();
  const day = dailyKeys(date);
  for (const key of [day.totalEvents, day.userActions, day.actionNames, day.activeUsers])
    keys.track(key);
  keys.track(day.action('view'));
  for (let p = 0; p < partitions; p += 1)
    for (const cluster of [FIXTURE_CLUSTER, TEST_CLUSTER])
      keys.track(appliedOffsetKey(cluster, topic, p));
  const value = (n: number) => ({
    eventId: randomUUID(),
    type: 'USER_ACTION',
    userId: `u${n % 5}`,
    action: 'view',
    timestamp: `${date}T09:00:00.000Z`,
  });
  const counters = async () => ({
    total: Number((await redis.get(day.totalEvents)) ?? 0),
    views: Number((await redis.get(day.action('view'))) ?? 0),
    activeUsers: await redis.scard(day.activeUsers),
  });
  return { value, counters };
};

describe('the same MSK batch invoked three times (failure test 4c)', () => {
  it('processAnalytics: the counters equal one invocation', async () => {
    const topic = uniqueTopic('redelivery-analytics');
    const { value, counters } = analyticsScenario(topic, 2);
    const event = mskEvent(
      Array.from({ length: 40 }, (_, n) =>
        mskRecord(topic, { partition: n % 2, offset: Math.floor(n / 2), value: value(n) }),
      ),
    );
    const handler = processAnalytics({ services: () => services });

    await handler(structuredClone(event));
    const once = await counters();
    await handler(structuredClone(event));
    await handler(structuredClone(event));

    expect(once).toEqual({ total: 40, views: 40, activeUsers: 5 });
    expect(await counters()).toEqual(once);
  });

  it('processOrders: the results equal one invocation, and each order was processed once', async () => {
    const topic = uniqueTopic('redelivery-orders');
    const orders = [order(), order({ currency: 'XTS' }), order()];
    const event = mskEvent(
      orders.map((value, offset) => mskRecord(topic, { offset, key: value.orderId, value })),
    );
    const { step, runs } = countingStep();
    const handler = processOrders({ services: () => services, step });

    const first = await handler(structuredClone(event));
    const once = await orderOutcomes(orders);
    const again = [await handler(structuredClone(event)), await handler(structuredClone(event))];

    expect(first).toEqual({ batchItemFailures: [] });
    expect(again).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(once.map(([result, error]) => [result !== null, error !== null])).toEqual([
      [true, false],
      [false, true],
      [true, false],
    ]);
    expect(await orderOutcomes(orders)).toEqual(once);
    expect([...runs.values()]).toEqual([1, 1, 1]);
  });

  it('userCacheEvents: a batch of two partitions is ONE Redis request, and delivering it again leaves the same state', async () => {
    const topic = uniqueTopic('redelivery-user-cache');
    const a = `user-alice-${randomUUID().slice(0, 8)}`;
    const b = `user-bob-${randomUUID().slice(0, 8)}`;
    const [aliceKeys, bobKeys] = [userKeys(a), userKeys(b)];
    const aliceSession = sessionKey(`sess-${randomUUID()}`);
    const bobSession = sessionKey(`sess-${randomUUID()}`);
    const bobOldSession = sessionKey(`sess-${randomUUID()}`);
    const cached = [aliceKeys.profile, aliceKeys.preferences, bobKeys.profile, bobKeys.preferences];
    for (const key of cached) await redis.set(keys.track(key), { cached: true });
    for (const key of [aliceSession, bobSession, bobOldSession]) keys.track(key);
    const now = Date.now();
    const login = (userId: string, session: string, at: number, sessionData: object) => ({
      type: 'USER_LOGGED_IN',
      userId,
      sessionId: session.slice('session:'.length),
      timestamp: new Date(at).toISOString(),
      sessionData,
    });
    const record = (partition: number, offset: number, userId: string, value: object) =>
      mskRecord(topic, { partition, offset, key: userId, value });
    // user.events is keyed by userId: each user's events are in one partition, in order.
    const event = mskEvent([
      record(0, 10, a, { type: 'USER_UPDATED', userId: a }),
      record(0, 11, a, login(a, aliceSession, now, { device: 'web' })),
      record(0, 12, a, { type: 'USER_ACTION', userId: a, action: 'view' }),
      // The same session again, later in the partition: the later login is what stays.
      record(0, 13, a, login(a, aliceSession, now, { device: 'ios' })),
      record(1, 40, b, login(b, bobSession, now - 20 * 60_000, { device: 'web' })),
      // Older than a session lives: a replay of the topic revives no session.
      record(1, 41, b, login(b, bobOldSession, now - 2 * 3_600_000, {})),
      record(1, 42, b, { type: 'USER_UPDATED', userId: b }),
    ]);
    const recording = recordingRedisService(stack);
    const handler = userCacheEvents({ services: () => ({ ...services, redis: recording.redis }) });
    const state = async () => ({
      cached: await redis.mget(...cached),
      sessions: await redis.mget(aliceSession, bobSession, bobOldSession),
    });

    const first = await handler(structuredClone(event));
    const once = await state();
    const bobTtl = await redis.ttl(bobSession);
    const requestsOnce = structuredClone(recording.requests);
    const again = await handler(structuredClone(event));

    expect([first, again]).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(
      requestsOnce.map(({ path, commands }) => [path, commands.map(([name]) => name)]),
    ).toEqual([['pipeline', ['del', 'set', 'set', 'set', 'del']]]);
    expect(once).toEqual({
      cached: [null, null, null, null],
      sessions: [
        { userId: a, createdAt: new Date(now).toISOString(), sessionData: { device: 'ios' } },
        {
          userId: b,
          createdAt: new Date(now - 20 * 60_000).toISOString(),
          sessionData: { device: 'web' },
        },
        null,
      ],
    });
    // Counted from the login, not from when the event arrived.
    expect(bobTtl).toBeGreaterThan(2_300);
    expect(bobTtl).toBeLessThanOrEqual(2_400);
    expect(recording.requests).toHaveLength(2);
    expect(await state()).toEqual(once);
    expect(await redis.ttl(bobSession)).toBeLessThanOrEqual(bobTtl);
  });
});

// --- killed half way: through the bridge -------------------------------------------------------

const mappingFor = (topic: string, functionName: string): KafkaMapping => ({
  id: `${functionName}#0`,
  functionKey: functionName,
  functionName,
  eventSource: 'aws:kafka',
  eventSourceArn: TEST_CLUSTER,
  topic,
  consumerGroupId: `test-redelivery-${randomUUID()}`,
  batchSize: 100,
  batchingWindowMs: 200,
  startingPosition: 'TRIM_HORIZON',
  reportBatchItemFailures: true,
  enabled: true,
});

const startBridge = async (mapping: KafkaMapping, handler: InProcessHandler) => {
  const bridge = await startMskBridge({
    brokers: stack.kafkaBrokers,
    mappings: [mapping],
    invoke: inProcessInvoker({ [mapping.functionName]: handler }),
    log: silentLog,
    retryBackoff: { initialMs: 20, maxMs: 50 },
  });
  bridges.push(bridge);
  return bridge;
};

/** Resolves once the mapping's group has committed `offset` on every partition of its topic. */
const committedThrough = (mapping: KafkaMapping, partitions: number, offset: number) =>
  eventually(
    async () => {
      const [result] = await admin.fetchOffsets({
        groupId: mapping.consumerGroupId,
        topics: [mapping.topic],
      });
      return (result?.partitions ?? []).map(({ offset: committed }) => Number(committed));
    },
    (committed) => committed.length === partitions && committed.every((value) => value === offset),
    { what: `${mapping.topic} committed through ${offset} on ${partitions} partition(s)` },
  );

/**
 * Hooks that kill the first invocation right after its `n`-th write, and no later one;
 * `atKill` observes the state the dead invocation left behind.
 */
const killOnce = <T>(
  afterWrites: number,
  atKill: () => Promise<T>,
): ConsumerHooks & { leftBehind: () => T | undefined } => {
  let writes = 0;
  let leftBehind: T | undefined;
  let killed = false;
  return {
    afterWrite: async () => {
      writes += 1;
      if (killed || writes !== afterWrites) return;
      killed = true;
      leftBehind = await atKill();
      throw new Error('killed half way (test hook): the Redis writes happened, no response');
    },
    leftBehind: () => leftBehind,
  };
};

describe('a consumer invocation killed half way (failure test 4d)', () => {
  it('processOrders: the redelivered batch completes every order, each processed once', async () => {
    const topic = await newTopic('killed-orders');
    const orders = Array.from({ length: 6 }, () => order());
    await producer.send({
      topic,
      messages: orders.map((value) => ({ key: value.orderId, value: JSON.stringify(value) })),
    });
    const { step, runs } = countingStep();
    // The batch's results are one write at its end: the kill comes right after it.
    const hooks = killOnce(
      1,
      async () => (await orderOutcomes(orders)).filter(([result]) => result !== null).length,
    );
    const mapping = mappingFor(topic, 'processOrders');

    const bridge = await startBridge(
      mapping,
      processOrders({ services: () => services, step, hooks }),
    );
    await committedThrough(mapping, 1, orders.length);
    const outcomes = await orderOutcomes(orders);

    expect(hooks.leftBehind()).toBe(6); // every order completed when the invocation died
    expect(bridge.stats()[mapping.id]).toMatchObject({ failures: 1 });
    expect(outcomes.map(([result, error, processing]) => [!!result, error, processing])).toEqual(
      orders.map(() => [true, null, null]),
    );
    expect(orders.map(({ orderId }) => runs.get(orderId))).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('processAnalytics: the redelivered batch leaves every counter counted once', async () => {
    const topic = await newTopic('killed-analytics', 2);
    const { value, counters } = analyticsScenario(topic, 2);
    await producer.send({
      topic,
      messages: Array.from({ length: 60 }, (_, n) => ({
        partition: n % 2,
        key: `u${n % 5}`,
        value: JSON.stringify(value(n)),
      })),
    });
    const hooks = killOnce(1, async () => (await counters()).total);
    const mapping = mappingFor(topic, 'processAnalytics');

    const bridge = await startBridge(
      mapping,
      processAnalytics({ services: () => services, hooks }),
    );
    await committedThrough(mapping, 2, 30);

    expect(hooks.leftBehind()).toBeGreaterThan(0); // the dead invocation's batch was counted
    expect(bridge.stats()[mapping.id]?.failures).toBe(1);
    expect(await counters()).toEqual({ total: 60, views: 60, activeUsers: 5 });
  });
});
