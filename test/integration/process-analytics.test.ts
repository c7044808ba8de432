import { randomUUID } from 'node:crypto';
import type { MSKRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { processAnalytics } from '../../functions/process-analytics.ts';
import { appliedOffsetKey } from '../../lib/analytics/analytics.ts';
import { type DeadLetter, deadLetterTopicOf } from '../../lib/kafka/dead-letters.ts';
import { dailyKeys } from '../../lib/keys.ts';
import type { KafkaHandler } from '../../lib/lambda/consumer/handler.ts';
import type { Services } from '../../lib/services.ts';
import { startUpstashGateway } from '../../local/upstash-gateway/server.ts';
import { consumeMessages, testKafka, uniqueTopic } from '../support/kafka.ts';
import { inspector, keygen } from '../support/redis.ts';
import { CLOSED_BROKER, servicesFor } from '../support/services.ts';
import { FIXTURE_CLUSTER, mskEvent, mskRecord, uniqueDay } from './msk-events.ts';

// processAnalytics invoked with aws:kafka events, against the real Redis through a gateway of
// this file's own (its counters see this consumer's traffic only) and the real broker. Each
// test has its own topic (so its own applied offsets) and its own day (so its own counters).

const stack = inject('stack');
const redis = inspector(stack);
const keys = keygen(redis);
const opened: Services[] = [];
const topics: string[] = [];
let gateway: Awaited<ReturnType<typeof startUpstashGateway>>;

beforeAll(async () => {
  gateway = await startUpstashGateway({
    redisUrl: stack.redisUrl,
    token: stack.upstashToken,
    port: 0,
  });
});
afterAll(async () => {
  await Promise.all(opened.map((services) => services.kafka?.disconnect()));
  await gateway.close();
  await keys.cleanup();
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics({ topics: topics.filter((topic) => existing.has(topic)) });
  await admin.disconnect();
});

/** processAnalytics over real services talking to this file's gateway. */
const handlerWith = (overrides: { kafkaBrokers?: string } = {}): KafkaHandler => {
  const services = servicesFor(stack, { upstashUrl: gateway.url, ...overrides });
  opened.push(services);
  return processAnalytics({ services: () => services });
};

const stats = async () =>
  (await (
    await fetch(`${gateway.url}/__narad/stats`, {
      headers: { authorization: `Bearer ${stack.upstashToken}` },
    })
  ).json()) as { requests: { total: number }; commands: number };
const resetStats = () =>
  fetch(`${gateway.url}/__narad/stats/reset`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.upstashToken}` },
  });

/** A topic and a day of this test's own, with its keys registered for cleanup. */
const scenario = (partitions = 2) => {
  const topic = uniqueTopic('analytics');
  topics.push(topic, deadLetterTopicOf(topic));
  const date = uniqueDay();
  const action = `act-${randomUUID().slice(0, 8)}`;
  const day = dailyKeys(date);
  for (const key of [
    day.totalEvents,
    day.userActions,
    day.actionNames,
    day.activeUsers,
    day.action(action),
  ])
    keys.track(key);
  for (let partition = 0; partition < partitions; partition += 1)
    keys.track(appliedOffsetKey(FIXTURE_CLUSTER, topic, partition));
  // The record at a position is built once: a redelivery carries the same record (eventId,
  // timestamp), as Kafka's does.
  const built = new Map<string, MSKRecord>();
  const record = (partition: number, offset: number): MSKRecord => {
    const position = `${partition}-${offset}`;
    const existing = built.get(position);
    if (existing) return structuredClone(existing);
    const made = mskRecord(topic, {
      partition,
      offset,
      key: `u${offset % 10}`,
      value: {
        eventId: randomUUID(),
        type: 'USER_ACTION',
        userId: `u${offset % 10}`,
        action,
        timestamp: `${date}T12:00:00.000Z`,
      },
    });
    built.set(position, made);
    return structuredClone(made);
  };
  /** Offsets [from, to) of every partition. */
  const records = (from: number, to: number): MSKRecord[] =>
    Array.from({ length: partitions }, (_, partition) =>
      Array.from({ length: to - from }, (_, i) => record(partition, from + i)),
    ).flat();
  const counted = async () => ({
    total: Number((await redis.get(day.totalEvents)) ?? 0),
    action: Number((await redis.get(day.action(action))) ?? 0),
    activeUsers: await redis.scard(day.activeUsers),
  });
  return { topic, date, action, record, records, counted };
};

describe('processAnalytics: one atomic Redis step per batch', () => {
  it('applies a batch of 100 events in ONE request of ONE command (an EVAL)', async () => {
    const { records, counted } = scenario(1);
    const handler = handlerWith();
    await resetStats();

    const response = await handler(mskEvent(records(0, 100)));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(await stats()).toMatchObject({ requests: { total: 1 }, commands: 1 });
    expect(await counted()).toEqual({ total: 100, action: 100, activeUsers: 10 });
  });

  it('applies 200 events over two partitions in ONE request too, counts aggregated per key', async () => {
    const { records, counted } = scenario(2);
    const handler = handlerWith();
    await resetStats();

    await handler(mskEvent(records(0, 100)));

    expect(await stats()).toMatchObject({ requests: { total: 1 }, commands: 1 });
    expect(await counted()).toEqual({ total: 200, action: 200, activeUsers: 10 });
  });

  it('keeps the counters 90 days and the applied offsets 8 days', async () => {
    const { topic, date, records } = scenario(1);

    await handlerWith()(mskEvent(records(0, 3)));

    const [counterTtl, offsetTtl] = await Promise.all([
      redis.ttl(dailyKeys(date).totalEvents),
      redis.ttl(appliedOffsetKey(FIXTURE_CLUSTER, topic, 0)),
    ]);
    expect(counterTtl).toBeGreaterThan(90 * 86_400 - 60);
    expect(offsetTtl).toBeGreaterThan(8 * 86_400 - 60);
    expect(offsetTtl).toBeLessThanOrEqual(8 * 86_400);
  });
});

describe('processAnalytics: redelivery counts nothing twice', () => {
  it('a batch delivered again changes no counter, still in one request', async () => {
    const { records, counted } = scenario(2);
    const handler = handlerWith();
    const event = mskEvent(records(0, 50));
    await handler(event);
    const once = await counted();
    await resetStats();

    const response = await handler(structuredClone(event));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(await counted()).toEqual(once);
    expect(once.total).toBe(100);
    expect(await stats()).toMatchObject({ requests: { total: 1 }, commands: 1 });
  });

  it('a batch overlapping the applied offsets (0-99, then 50-149) counts only 100-149, in a second request', async () => {
    const { records, counted } = scenario(1);
    const handler = handlerWith();
    await handler(mskEvent(records(0, 100)));
    await resetStats();

    await handler(mskEvent(records(50, 150)));

    expect(await counted()).toMatchObject({ total: 150, action: 150 });
    expect(await stats()).toMatchObject({ requests: { total: 2 }, commands: 2 });
  });

  it('offsets count per cluster: the same offsets from another cluster are new records', async () => {
    const { topic, records, counted } = scenario(1);
    const handler = handlerWith();
    const otherCluster = mskEvent(records(0, 10));
    otherCluster.eventSourceArn = `${FIXTURE_CLUSTER.replace(/-\d+$/, '')}-recreated`;
    keys.track(appliedOffsetKey(otherCluster.eventSourceArn, topic, 0));
    await handler(mskEvent(records(0, 10)));

    await handler(otherCluster);

    expect((await counted()).total).toBe(20);
  });

  it('in one batch, applies the new partition and skips the redelivered one', async () => {
    const { record, counted } = scenario(2);
    const handler = handlerWith();
    await handler(mskEvent([0, 1, 2].map((offset) => record(0, offset))));

    await handler(mskEvent([...[0, 1, 2].map((o) => record(0, o)), record(1, 0)]));

    expect((await counted()).total).toBe(4);
  });
});

describe('processAnalytics: records that are not events', () => {
  const poisonBytes = Buffer.from('{not json');

  it('go to <topic>.dlq with their original bytes; the records after them are counted', async () => {
    const { topic, record, counted } = scenario(1);
    const poison = mskRecord(topic, {
      offset: 2,
      key: 'u2',
      value: poisonBytes,
      headers: { 'x-correlation-id': 'corr-poison' },
    });
    const event = mskEvent([record(0, 0), record(0, 1), poison, record(0, 3), record(0, 4)]);

    const response = await handlerWith()(event);

    expect(response).toEqual({ batchItemFailures: [] });
    expect(await counted()).toMatchObject({ total: 4, action: 4 });
    const [letter] = await consumeMessages(stack.kafkaBrokers, deadLetterTopicOf(topic), 1);
    expect(letter?.key).toBe('u2');
    expect(letter?.headers['x-correlation-id']).toBe('corr-poison');
    expect(letter?.value).toMatchObject({
      source: { topic, partition: 0, offset: 2, timestamp: poison.timestamp },
      key: Buffer.from('u2').toString('base64'),
      value: poisonBytes.toString('base64'),
      headers: [{ name: 'x-correlation-id', value: Buffer.from('corr-poison').toString('base64') }],
      errorType: 'RecordDecodeError',
      error: expect.stringContaining('value is not JSON'),
      attempts: 1,
      consumer: 'processAnalytics',
    });
  });

  it('are reported failed when the dead-letter topic is out of reach; the redelivery dead-letters them and counts nothing twice', async () => {
    const { topic, record, counted } = scenario(1);
    const poison = mskRecord(topic, { offset: 2, value: poisonBytes });
    const batch = [record(0, 0), record(0, 1), poison, record(0, 3), record(0, 4)];

    const first = await handlerWith({ kafkaBrokers: CLOSED_BROKER })(mskEvent(batch));
    const afterFirst = await counted();
    // Lambda redelivers from the failed offset on.
    const second = await handlerWith()(mskEvent(batch.slice(2)));

    expect(first).toEqual({
      batchItemFailures: [{ itemIdentifier: { partition: `${topic}-0`, offset: 2 } }],
    });
    expect(afterFirst).toMatchObject({ total: 4 });
    expect(second).toEqual({ batchItemFailures: [] });
    expect(await counted()).toMatchObject({ total: 4 });
    const letters = await consumeMessages(stack.kafkaBrokers, deadLetterTopicOf(topic), 1);
    expect(letters.map(({ value }) => (value as DeadLetter).source.offset)).toEqual([2]);
  });
});

describe('processAnalytics: one bad record or key never leaves a batch half applied', () => {
  it('a record whose timestamps give no calendar day goes to <topic>.dlq alone; the rest of the two-partition batch is counted', async () => {
    const { topic, records, counted } = scenario(2);
    const bad = mskRecord(topic, {
      partition: 1,
      offset: 5,
      key: 'u5',
      timestamp: 8.64e15 + 1,
      value: {
        eventId: randomUUID(),
        type: 'USER_ACTION',
        userId: 'u5',
        action: 'view',
        timestamp: 'not a time',
      },
    });

    const response = await handlerWith()(mskEvent([...records(0, 5), bad]));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(await counted()).toMatchObject({ total: 10, action: 10 });
    const [letter] = await consumeMessages(stack.kafkaBrokers, deadLetterTopicOf(topic), 1);
    expect(letter?.value).toMatchObject({
      source: { topic, partition: 1, offset: 5 },
      errorType: 'ValidationError',
      error: expect.stringContaining('is a time with a calendar day'),
      attempts: 1,
    });
  });

  it('a counter key Redis cannot increment fails the batch with nothing written; once fixed, the retry counts each event once', async () => {
    const { date, action, records } = scenario(2);
    const day = dailyKeys(date);
    const total = async () => Number((await redis.get(day.totalEvents)) ?? 0);
    // user_actions and total_events come before action:<name> in the batch's writes.
    await redis.sadd(day.action(action), 'not a counter');
    const event = mskEvent(records(0, 10));

    const failure = await handlerWith()(structuredClone(event)).then(
      () => undefined,
      (error: unknown) => error,
    );
    const afterFailure = [await total(), await redis.get(day.userActions)];
    await redis.del(day.action(action));
    const retried = await handlerWith()(structuredClone(event));

    expect(failure).toBeInstanceOf(Error);
    expect(afterFailure).toEqual([0, null]);
    expect(retried).toEqual({ batchItemFailures: [] });
    expect(await total()).toBe(20);
    expect(Number(await redis.get(day.action(action)))).toBe(20);
  });
});
