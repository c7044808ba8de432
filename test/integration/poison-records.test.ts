import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { processOrders } from '../../functions/process-orders.ts';
import { userCacheEvents } from '../../functions/user-cache-events.ts';
import { RedisUnavailableError } from '../../lib/errors.ts';
import {
  attemptsKey,
  DEFAULT_MAX_ATTEMPTS,
  type DeadLetter,
  deadLetterTopicOf,
} from '../../lib/kafka/dead-letters.ts';
import { orderKeys, sessionKey, userKeys } from '../../lib/keys.ts';
import { checkOrderTotals, type OrderStep } from '../../lib/orders/order-step.ts';
import type { OrderEvent } from '../../lib/orders/schema.ts';
import type { Services } from '../../lib/services.ts';
import {
  inProcessInvoker,
  type KafkaMapping,
  type MskBridge,
  silentLog,
  startMskBridge,
} from '../../local/msk-bridge/index.ts';
import {
  consumeMessages,
  countMessages,
  testKafka,
  testProducer,
  uniqueTopic,
} from '../support/kafka.ts';
import { CLOSED_URL, inspector, keygen, recordingRedisService } from '../support/redis.ts';
import { CLOSED_BROKER, servicesFor } from '../support/services.ts';
import { eventually } from '../support/wait.ts';
import { mskEvent, mskRecord, orderEvent } from './msk-events.ts';

// Failure test 4e of issue 6 and the dead-letter rules: a record that can never be handled goes
// to <topic>.dlq at once, one whose handling keeps failing after DEFAULT_MAX_ATTEMPTS, and the
// partition moves on; when Redis or the dead-letter topic is out of reach, the record is
// reported failed (delivered again), never skipped. Real handlers, broker and Redis.

const stack = inject('stack');
const redis = inspector(stack);
const keys = keygen(redis);
const kafka = testKafka(stack.kafkaBrokers);
const admin = kafka.admin();
const producer = testProducer(kafka);
const topics: string[] = [];
const bridges: MskBridge[] = [];
const opened: Services[] = [];
const services = (overrides: Parameters<typeof servicesFor>[1] = {}) => {
  const built = servicesFor(stack, overrides);
  opened.push(built);
  return built;
};

beforeAll(async () => {
  await Promise.all([admin.connect(), producer.connect()]);
});
afterAll(async () => {
  await Promise.allSettled(bridges.map((bridge) => bridge.stop()));
  await Promise.all([producer.disconnect(), ...opened.map((s) => s.kafka?.disconnect())]);
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics({ topics: topics.filter((topic) => existing.has(topic)) });
  await admin.disconnect();
  await keys.cleanup();
});

const newTopic = async (name: string) => {
  const topic = uniqueTopic(name);
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  topics.push(topic, deadLetterTopicOf(topic));
  return topic;
};

const order = (overrides: Partial<OrderEvent> = {}) => orderEvent(keys.track, overrides);

const statusOf = async ({ orderId }: OrderEvent) => {
  const { result, error, processing } = orderKeys(orderId);
  const [done, failed, pending] = await redis.mget<Array<{ status: string } | null>>(
    result,
    error,
    processing,
  );
  return (done ?? failed ?? pending)?.status ?? 'none';
};

const mappingFor = (topic: string): KafkaMapping => ({
  id: 'processOrders#0',
  functionKey: 'processOrders',
  functionName: 'processOrders',
  eventSource: 'aws:kafka',
  eventSourceArn: 'arn:aws:kafka:us-east-1:000000000000:cluster/narad-test/00000000-1',
  topic,
  consumerGroupId: `test-poison-${randomUUID()}`,
  batchSize: 50,
  batchingWindowMs: 200,
  startingPosition: 'TRIM_HORIZON',
  reportBatchItemFailures: true,
  enabled: true,
});

const committedThrough = (mapping: KafkaMapping, offset: number) =>
  eventually(
    async () => {
      const [result] = await admin.fetchOffsets({
        groupId: mapping.consumerGroupId,
        topics: [mapping.topic],
      });
      return Number(result?.partitions[0]?.offset ?? -1);
    },
    (committed) => committed === offset,
    { what: `${mapping.topic} committed through ${offset}` },
  );

const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64');

describe('a poison record in the middle of a batch (failure test 4e)', () => {
  it('goes to <topic>.dlq with its original bytes, and the records after it are processed', async () => {
    const topic = await newTopic('poison-orders');
    const [before, after, last] = [order(), order(), order()];
    // Not UTF-8, so not JSON either: it can never be decoded.
    const poison = Buffer.from([0x7b, 0xff, 0xfe, 0x22]);
    await producer.send({
      topic,
      messages: [
        { key: before?.orderId, value: JSON.stringify(before) },
        { key: 'poison-key', value: poison, headers: { 'x-correlation-id': 'corr-poison' } },
        { key: after?.orderId, value: JSON.stringify(after) },
        { key: last?.orderId, value: JSON.stringify(last) },
      ],
    });
    const mapping = mappingFor(topic);
    const deps = services();

    const bridge = await startMskBridge({
      brokers: stack.kafkaBrokers,
      mappings: [mapping],
      invoke: inProcessInvoker({ processOrders: processOrders({ services: () => deps }) }),
      log: silentLog,
      retryBackoff: { initialMs: 20, maxMs: 50 },
    });
    bridges.push(bridge);
    await committedThrough(mapping, 4);
    const [letter] = await consumeMessages(stack.kafkaBrokers, deadLetterTopicOf(topic), 1);

    expect(await Promise.all([before, after, last].map((o) => statusOf(o as OrderEvent)))).toEqual([
      'completed',
      'completed',
      'completed',
    ]);
    expect(bridge.stats()[mapping.id]).toMatchObject({ failures: 0, partialFailures: 0 });
    expect(letter?.key).toBe('poison-key');
    expect(letter?.headers['x-correlation-id']).toBe('corr-poison');
    const value = letter?.value as DeadLetter;
    expect(value).toEqual({
      source: {
        topic,
        partition: 0,
        offset: 1,
        timestamp: expect.any(Number),
        timestampType: 'CREATE_TIME',
      },
      key: b64('poison-key'),
      value: b64(poison),
      headers: [{ name: 'x-correlation-id', value: b64('corr-poison') }],
      error: 'RecordDecodeError: value is not valid UTF-8',
      errorType: 'RecordDecodeError',
      attempts: 1,
      consumer: 'processOrders',
      deadLetteredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(Buffer.from(value.value ?? '', 'base64').equals(poison)).toBe(true);
  });
});

describe('dead-lettering rules', () => {
  it('a value that is JSON but not an order goes to the DLQ at once (it can never pass)', async () => {
    const topic = uniqueTopic('poison-not-an-order');
    topics.push(deadLetterTopicOf(topic));
    const next = order();
    const event = mskEvent([
      mskRecord(topic, { offset: 7, key: 'o-x', value: { orderId: 'o-x', items: 'none' } }),
      mskRecord(topic, { offset: 8, key: next.orderId, value: next }),
    ]);

    const deps = services();
    const response = await processOrders({ services: () => deps })(event);
    const [letter] = await consumeMessages(stack.kafkaBrokers, deadLetterTopicOf(topic), 1);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(await statusOf(next)).toBe('completed');
    expect(letter?.value).toMatchObject({
      source: { topic, offset: 7 },
      errorType: 'ZodError',
      attempts: 1,
    });
  });

  it(`a record whose processing keeps throwing is retried, then dead-lettered at attempt ${DEFAULT_MAX_ATTEMPTS}; the partition moves on`, async () => {
    const topic = await newTopic('poison-keeps-failing');
    const [stuck, next] = [order(), order()];
    await producer.send({
      topic,
      messages: [stuck, next].map((o) => ({ key: o?.orderId, value: JSON.stringify(o) })),
    });
    const step: OrderStep = async (event) => {
      if (event.orderId === stuck?.orderId) throw new Error('payment provider timed out');
      return checkOrderTotals(event);
    };
    const mapping = mappingFor(topic);
    const deps = services();

    const bridge = await startMskBridge({
      brokers: stack.kafkaBrokers,
      mappings: [mapping],
      invoke: inProcessInvoker({ processOrders: processOrders({ services: () => deps, step }) }),
      log: silentLog,
      retryBackoff: { initialMs: 20, maxMs: 50 },
    });
    bridges.push(bridge);
    await committedThrough(mapping, 2);
    const [letter] = await consumeMessages(stack.kafkaBrokers, deadLetterTopicOf(topic), 1);
    const attempts = keys.track(
      attemptsKey('processOrders', {
        topic,
        partition: 0,
        offset: 0,
        timestamp: (letter?.value as DeadLetter | undefined)?.source.timestamp,
      }),
    );

    // Attempts 1-4 were reported failed (partial responses); attempt 5 dead-lettered it.
    expect(bridge.stats()[mapping.id]).toMatchObject({
      partialFailures: DEFAULT_MAX_ATTEMPTS - 1,
      failures: 0,
    });
    expect(Number(await redis.get(attempts))).toBe(DEFAULT_MAX_ATTEMPTS);
    expect(await redis.ttl(attempts)).toBeGreaterThan(0);
    expect(await statusOf(next as OrderEvent)).toBe('completed');
    expect(letter?.value).toMatchObject({
      source: { topic, partition: 0, offset: 0 },
      value: b64(JSON.stringify(stuck)),
      error: 'Error: payment provider timed out',
      attempts: DEFAULT_MAX_ATTEMPTS,
      consumer: 'processOrders',
    });
  });

  it('with Redis out of reach, a failing record is reported failed: not counted, not dead-lettered, not skipped', async () => {
    const topic = uniqueTopic('poison-redis-down');
    topics.push(deadLetterTopicOf(topic));
    const [first, second] = [order(), order()];
    const event = mskEvent(
      [first, second].map((o, offset) => mskRecord(topic, { offset, key: o.orderId, value: o })),
    );

    const redisDown = services({ upstashUrl: CLOSED_URL });
    const response = await processOrders({ services: () => redisDown })(event);

    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: { partition: `${topic}-0`, offset: 0 } }],
    });
    expect(await admin.listTopics()).not.toContain(deadLetterTopicOf(topic));
    expect([await statusOf(first), await statusOf(second)]).toEqual(['none', 'none']);
  });

  it('with the dead-letter topic out of reach, a poison record is reported failed and its partition waits', async () => {
    const topic = uniqueTopic('poison-kafka-down');
    const next = order();
    const event = mskEvent([
      mskRecord(topic, { offset: 3, value: Buffer.from('not json') }),
      mskRecord(topic, { offset: 4, key: next.orderId, value: next }),
    ]);

    const kafkaDown = services({ kafkaBrokers: CLOSED_BROKER });
    const response = await processOrders({ services: () => kafkaDown })(event);

    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: { partition: `${topic}-0`, offset: 3 } }],
    });
    // Claimed with its batch, then given back unprocessed: no result, no error, no attempt.
    expect(await statusOf(next)).toBe('processing');
    expect(await redis.get(orderKeys(next.orderId).attempts)).toBe(0);
  });

  it('userCacheEvents dead-letters a malformed USER_* event in the middle of its batch, and applies the rest in one request', async () => {
    const topic = uniqueTopic('poison-user-cache');
    topics.push(deadLetterTopicOf(topic));
    const userId = `user-${randomUUID().slice(0, 8)}`;
    const { profile } = userKeys(userId);
    const [before, after] = [
      sessionKey(`sess-${randomUUID()}`),
      sessionKey(`sess-${randomUUID()}`),
    ];
    for (const key of [before, after]) keys.track(key);
    await redis.set(keys.track(profile), { cached: true });
    const login = (session: string) => ({
      type: 'USER_LOGGED_IN',
      userId,
      sessionId: session.slice('session:'.length),
      timestamp: new Date().toISOString(),
    });
    const event = mskEvent([
      mskRecord(topic, { offset: 0, key: userId, value: login(before) }),
      mskRecord(topic, { offset: 1, key: userId, value: { type: 'USER_LOGGED_IN', userId } }),
      mskRecord(topic, { offset: 2, key: userId, value: { type: 'USER_UPDATED', userId } }),
      mskRecord(topic, { offset: 3, key: userId, value: login(after) }),
    ]);
    const recording = recordingRedisService(stack);
    const deps = { ...services(), redis: recording.redis };

    const response = await userCacheEvents({ services: () => deps })(event);
    const [letter] = await consumeMessages(stack.kafkaBrokers, deadLetterTopicOf(topic), 1);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(recording.requests.map(({ commands }) => commands.map(([name]) => name))).toEqual([
      ['set', 'del', 'set'],
    ]);
    expect(await redis.mget(before, profile, after)).toEqual([
      expect.objectContaining({ userId }),
      null,
      expect.objectContaining({ userId }),
    ]);
    expect(letter?.value).toMatchObject({
      source: { topic, offset: 1 },
      error: expect.stringMatching(/^ValidationError: .*"sessionId"/s),
      errorType: 'ValidationError',
      attempts: 1,
      consumer: 'userCacheEvents',
    });
    expect(await countMessages(stack.kafkaBrokers, deadLetterTopicOf(topic))).toBe(1);
  });

  it('userCacheEvents fails its whole batch when the Redis request fails: nothing dead-lettered, nothing lost on the retry', async () => {
    const topic = uniqueTopic('poison-user-cache-redis-down');
    topics.push(deadLetterTopicOf(topic));
    const userId = `user-${randomUUID().slice(0, 8)}`;
    const session = keys.track(sessionKey(`sess-${randomUUID()}`));
    const event = mskEvent([
      mskRecord(topic, { offset: 0, key: userId, value: { type: 'USER_UPDATED' } }),
      mskRecord(topic, {
        offset: 1,
        key: userId,
        value: {
          type: 'USER_LOGGED_IN',
          userId,
          sessionId: session.slice('session:'.length),
          timestamp: new Date().toISOString(),
        },
      }),
    ]);
    const redisDown = services({ upstashUrl: CLOSED_URL });
    const up = services();

    const failed = await userCacheEvents({ services: () => redisDown })(
      structuredClone(event),
    ).catch((error: unknown) => error);
    const topicsAfterFailure = await admin.listTopics();
    const retried = await userCacheEvents({ services: () => up })(structuredClone(event));

    expect(failed).toBeInstanceOf(RedisUnavailableError);
    expect(topicsAfterFailure).not.toContain(deadLetterTopicOf(topic));
    expect(retried).toEqual({ batchItemFailures: [] });
    expect(await redis.get(session)).toMatchObject({ userId });
    expect(await countMessages(stack.kafkaBrokers, deadLetterTopicOf(topic))).toBe(1);
  });
});
