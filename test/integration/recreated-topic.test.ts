import { randomUUID } from 'node:crypto';
import type { MSKRecord } from 'aws-lambda';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { processAnalytics } from '../../functions/process-analytics.ts';
import { appliedOffsetKey } from '../../lib/analytics/analytics.ts';
import {
  attemptsKey,
  deadLetterTopicOf,
  settleFailedRecord,
} from '../../lib/kafka/dead-letters.ts';
import { dailyKeys } from '../../lib/keys.ts';
import type { Services } from '../../lib/services.ts';
import {
  type Consumed,
  consumeMessages,
  createTopic,
  testKafka,
  uniqueTopic,
} from '../support/kafka.ts';
import { inspector, keygen } from '../support/redis.ts';
import { servicesFor } from '../support/services.ts';
import { eventually } from '../support/wait.ts';
import { FIXTURE_CLUSTER, mskEvent, mskRecord, uniqueDay } from './msk-events.ts';

// A topic deleted and created again on the same cluster (as a broker whose data was wiped)
// starts its offsets at 0 again. Against the real broker: the new topic's records are new
// records, for the analytics counters and for the dead-letter attempt counts.

const stack = inject('stack');
const redis = inspector(stack);
const keys = keygen(redis);
const topics: string[] = [];
const services: Services = servicesFor(stack);
afterAll(async () => {
  await services.kafka?.disconnect();
  await keys.cleanup();
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics({ topics: topics.filter((topic) => existing.has(topic)) });
  await admin.disconnect();
});

/** Produces `values` to `topic` with a producer of its own (so no metadata of an older topic). */
const produce = async (topic: string, values: Array<{ userId?: string }>) => {
  const producer = testKafka(stack.kafkaBrokers).producer();
  await producer.connect();
  try {
    await producer.send({
      topic,
      messages: values.map((value) => ({
        key: value.userId ?? null,
        value: JSON.stringify(value),
      })),
    });
  } finally {
    await producer.disconnect();
  }
};

/** Deletes `topic` and creates it again, empty, once the broker finished deleting it. */
const recreate = async (topic: string) => {
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
    await eventually(
      async () =>
        admin
          .createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
          .catch(() => false),
      (created) => created === true,
      { what: `${topic} created again after its deletion` },
    );
  } finally {
    await admin.disconnect();
  }
};

const asSourceRecord = (topic: string, record: Consumed): MSKRecord =>
  mskRecord(topic, {
    partition: record.partition,
    offset: Number(record.offset),
    ...(record.key === null ? {} : { key: record.key }),
    value: record.value,
    headers: record.headers,
    timestamp: record.timestamp,
  });

describe('a topic deleted and created again', () => {
  it('has its records counted by processAnalytics, although their offsets were counted before', async () => {
    const topic = uniqueTopic('recreated-analytics');
    await createTopic(stack.kafkaBrokers, topic);
    topics.push(topic, deadLetterTopicOf(topic));
    const date = uniqueDay();
    const day = dailyKeys(date);
    for (const key of [day.totalEvents, day.userActions, day.actionNames, day.activeUsers])
      keys.track(key);
    keys.track(day.action('view'));
    keys.track(appliedOffsetKey(FIXTURE_CLUSTER, topic, 0));
    const events = (count: number) =>
      Array.from({ length: count }, (_, i) => ({
        eventId: randomUUID(),
        type: 'USER_ACTION',
        userId: `u${i % 5}`,
        action: 'view',
        timestamp: `${date}T10:00:00.000Z`,
      }));
    const handler = processAnalytics({ services: () => services });
    const deliver = (records: Consumed[]) =>
      handler(mskEvent(records.map((record) => asSourceRecord(topic, record))));
    const counted = async () => Number((await redis.get(day.totalEvents)) ?? 0);
    await produce(topic, events(100));
    const before = await consumeMessages(stack.kafkaBrokers, topic, 100);
    await deliver(before);

    await recreate(topic);
    await produce(topic, events(50));
    const after = await consumeMessages(stack.kafkaBrokers, topic, 50);
    await deliver(after);
    const countedAfter = await counted();
    // A redelivery of the new topic's batch is still recognised.
    await deliver(after);

    expect(before.map((record) => Number(record.offset))).toEqual([...Array(100).keys()]);
    expect(after.map((record) => Number(record.offset))).toEqual([...Array(50).keys()]);
    expect(countedAfter).toBe(150);
    expect(await counted()).toBe(150);
  });

  it('gives the new record at an offset attempts of its own, not those of the old record there', async () => {
    const topic = uniqueTopic('recreated-attempts');
    await createTopic(stack.kafkaBrokers, topic);
    topics.push(topic, deadLetterTopicOf(topic));
    const policy = { consumer: 'processOrders', maxAttempts: 5 };
    const failure = new Error('payment provider timed out');
    await produce(topic, [{ userId: 'old-order' }]);
    const [old] = await consumeMessages(stack.kafkaBrokers, topic, 1);
    const oldRecord = asSourceRecord(topic, old as Consumed);
    keys.track(attemptsKey(policy.consumer, oldRecord));
    keys.track(`dlq:attempts:${policy.consumer}:${topic}:0:0`);
    const settlements = [];
    for (let attempt = 1; attempt < policy.maxAttempts; attempt += 1)
      settlements.push(await settleFailedRecord(services, policy, oldRecord, failure));

    await recreate(topic);
    await produce(topic, [{ userId: 'new-order' }]);
    const [fresh] = await consumeMessages(stack.kafkaBrokers, topic, 1);
    const freshRecord = asSourceRecord(topic, fresh as Consumed);
    keys.track(attemptsKey(policy.consumer, freshRecord));
    const settlement = await settleFailedRecord(services, policy, freshRecord, failure);

    expect(settlements.map((s) => s.attempts)).toEqual([1, 2, 3, 4]);
    expect(freshRecord.offset).toBe(oldRecord.offset);
    expect(settlement).toEqual({ outcome: 'retry', attempts: 1, reason: 'attempt 1 of 5' });
  });
});
