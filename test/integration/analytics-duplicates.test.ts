import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { processAnalytics } from '../../functions/process-analytics.ts';
import { appliedOffsetKey } from '../../lib/analytics/analytics.ts';
import { KafkaDeliveryUnknownError } from '../../lib/errors.ts';
import { drainFallback } from '../../lib/fallback/drain.ts';
import { fallbackListKey, sendWithFallback } from '../../lib/fallback/messages.ts';
import { deadLetterTopicOf } from '../../lib/kafka/dead-letters.ts';
import { createKafkaService, type KafkaService } from '../../lib/kafka/producer.ts';
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
import { CLOSED_BROKER, servicesFor } from '../support/services.ts';
import { FIXTURE_CLUSTER, mskEvent, mskRecord, uniqueDay } from './msk-events.ts';

// A second copy of an event at a new offset, made by each way the system can make one, against
// the real broker and the real Redis: both copies are in Kafka, processAnalytics gets both as
// MSK delivers them, and the day's counters count the event once.

const stack = inject('stack');
const redis = inspector(stack);
const keys = keygen(redis);
const opened: Services[] = [];
const topics: string[] = [];
const services = (overrides: Parameters<typeof servicesFor>[1] = {}) => {
  const built = servicesFor(stack, overrides);
  opened.push(built);
  return built;
};
afterAll(async () => {
  await Promise.all(opened.map((built) => built.kafka?.disconnect()));
  await keys.cleanup();
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  await admin.deleteTopics({ topics: topics.filter((topic) => existing.has(topic)) });
  await admin.disconnect();
});

const DAY_MS = 86_400_000;

/** A topic, a day and one event of the test's own, and processAnalytics over real services. */
const scenario = async () => {
  const topic = uniqueTopic('analytics-copies');
  await createTopic(stack.kafkaBrokers, topic);
  topics.push(topic, deadLetterTopicOf(topic));
  const date = uniqueDay();
  const day = dailyKeys(date);
  for (const key of [
    day.totalEvents,
    day.userActions,
    day.actionNames,
    day.activeUsers,
    day.action('view'),
    appliedOffsetKey(FIXTURE_CLUSTER, topic, 0),
    fallbackListKey(topic),
    `kafka_fallback_lock:${topic}`,
    `kafka_fallback_senders:${topic}`,
  ])
    keys.track(key);
  const event = {
    eventId: randomUUID(),
    type: 'USER_ACTION',
    userId: `user-${randomUUID().slice(0, 8)}`,
    action: 'view',
    timestamp: `${date}T10:00:00.000Z`,
  };
  keys.track(`analytics:event:${event.eventId}`);
  const live = services();
  const handler = processAnalytics({ services: () => live });
  // Past the recent traces' window: only a hold can tell the second copy then.
  const aDayLater = processAnalytics({ services: () => live, now: () => Date.now() + DAY_MS });
  /** Hands records read back from the topic to processAnalytics, as one MSK batch. */
  const deliver = async (records: Consumed[], { later = false } = {}) => {
    const response = await (later ? aDayLater : handler)(
      mskEvent(
        records.map((record) =>
          mskRecord(topic, {
            partition: record.partition,
            offset: Number(record.offset),
            ...(record.key === null ? {} : { key: record.key }),
            value: record.value,
            headers: record.headers,
            timestamp: record.timestamp,
          }),
        ),
      ),
    );
    expect(response).toEqual({ batchItemFailures: [] });
  };
  const counted = async () => Number((await redis.get(day.totalEvents)) ?? 0);
  return { topic, event, live, deliver, counted };
};

/**
 * The real Kafka service over kafkajs whose producers' connection closes once, right after the
 * broker appended a batch (the answer never arrives), when told to.
 */
const answerDroppingKafka = () => {
  const client = new Kafka({
    clientId: 'narad-tests',
    brokers: [stack.kafkaBrokers],
    logLevel: logLevel.NOTHING,
  });
  let dropNextAnswer = false;
  const newProducer = client.producer.bind(client);
  client.producer = (config) => {
    const producer = newProducer(config);
    const send = producer.send.bind(producer);
    producer.send = async (record) => {
      const metadata = await send(record);
      if (dropNextAnswer) {
        dropNextAnswer = false;
        throw Object.assign(new Error('Closed connection'), {
          name: 'KafkaJSConnectionClosedError',
        });
      }
      return metadata;
    };
    return producer;
  };
  const kafka = createKafkaService(client, {
    idempotent: true,
    allowAutoTopicCreation: false,
    retry: { initialRetryTimeMs: 100, retries: 2 },
  });
  return {
    kafka,
    /** Sends once to a topic of its own, so the producer is warm (a reset is tried only then). */
    warm: async () => {
      const warmTopic = uniqueTopic('analytics-copies-warm');
      await createTopic(stack.kafkaBrokers, warmTopic);
      topics.push(warmTopic);
      await kafka.send(warmTopic, { warm: true });
    },
    dropNextAnswer: () => {
      dropNextAnswer = true;
    },
  };
};

/** The two copies of the scenario's event, read back from its topic. */
const bothCopies = async (topic: string): Promise<[Consumed, Consumed]> => {
  const copies = await consumeMessages(stack.kafkaBrokers, topic, 2);
  expect(copies).toHaveLength(2);
  return copies as [Consumed, Consumed];
};

describe('processAnalytics counts a second copy of an event at a new offset once', () => {
  it('a send the broker appended but never acknowledged, parked and drained; the first copy counted before the park, the second a day later', async () => {
    const { topic, event, live, deliver, counted } = await scenario();
    const kafka = live.kafka as KafkaService;
    const appendedButUnanswered: KafkaService = {
      ...kafka,
      sendBatch: async (...args) => {
        await kafka.sendBatch(...args);
        // The consumer counts the first copy while the producer still waits for the answer.
        await deliver(await consumeMessages(stack.kafkaBrokers, topic, 1));
        throw new KafkaDeliveryUnknownError(
          `Kafka did not acknowledge the send to "${topic}" in time`,
          topic,
        );
      },
    };

    const parked = await sendWithFallback({ ...live, kafka: appendedButUnanswered }, topic, {
      value: event,
      key: event.userId,
    });
    const [drained] = await drainFallback(live, topic);
    const [first, second] = await bothCopies(topic);
    await deliver([second], { later: true });

    expect(await counted()).toBe(1);
    expect(parked.path).toBe('fallback');
    expect(drained?.sent).toBe(1);
    expect([first.value, second.value]).toEqual([event, event]);
    expect(Number(second.offset)).toBeGreaterThan(Number(first.offset));
    expect(second.headers['x-narad-possible-duplicate']).toBe('1');
  });

  it('a send the broker appended but never acknowledged, parked and drained; the first copy counted after the park, the second a day later', async () => {
    const { topic, event, live, deliver, counted } = await scenario();
    const kafka = live.kafka as KafkaService;
    const appendedButUnanswered: KafkaService = {
      ...kafka,
      sendBatch: async (...args) => {
        await kafka.sendBatch(...args);
        throw new KafkaDeliveryUnknownError(
          `Kafka did not acknowledge the send to "${topic}" in time`,
          topic,
        );
      },
    };

    await sendWithFallback({ ...live, kafka: appendedButUnanswered }, topic, {
      value: event,
      key: event.userId,
    });
    await drainFallback(live, topic);
    const [first, second] = await bothCopies(topic);
    await deliver([first]);
    await deliver([second], { later: true });

    expect([first.value, second.value]).toEqual([event, event]);
    expect(await counted()).toBe(1);
  });

  it('a producer that re-sends after a reset (a new producer id) when its first attempt had reached the broker', async () => {
    const { topic, event, deliver, counted } = await scenario();
    const flaky = answerDroppingKafka();
    try {
      await flaky.warm();
      flaky.dropNextAnswer();

      await flaky.kafka.sendBatch(topic, [{ value: event, key: event.userId }]);
    } finally {
      await flaky.kafka.disconnect();
    }
    const [first, second] = await bothCopies(topic);
    await deliver([first]);
    await deliver([second]);

    expect(await counted()).toBe(1);
    expect([first.value, second.value]).toEqual([event, event]);
    expect(second.headers['x-narad-possible-duplicate']).toBe('1');
  });

  it('the same re-send through sendWithFallback, its second copy counted a day later', async () => {
    const { topic, event, live, deliver, counted } = await scenario();
    const flaky = answerDroppingKafka();
    try {
      await flaky.warm();
      flaky.dropNextAnswer();

      const sent = await sendWithFallback({ ...live, kafka: flaky.kafka }, topic, {
        value: event,
        key: event.userId,
      });
      expect(sent.path).toBe('kafka');
    } finally {
      await flaky.kafka.disconnect();
    }
    const [first, second] = await bothCopies(topic);
    await deliver([first]);
    await deliver([second], { later: true });

    expect(await counted()).toBe(1);
    expect([first.value, second.value]).toEqual([event, event]);
  });

  it('a drain that died after Kafka acknowledged its batch, then drained again; the second copy counted a day later', async () => {
    const { topic, event, live, deliver, counted } = await scenario();
    const kafka = live.kafka as KafkaService;
    await sendWithFallback(services({ kafkaBrokers: CLOSED_BROKER }), topic, {
      value: event,
      key: event.userId,
    });
    const diesAfterTheAck: KafkaService = {
      ...kafka,
      sendBatch: async (...args) => {
        await kafka.sendBatch(...args);
        throw new Error('drain killed after the broker acknowledged the batch');
      },
    };

    const [died] = await drainFallback({ ...live, kafka: diesAfterTheAck }, topic);
    const [again] = await drainFallback(live, topic);
    const [first, second] = await bothCopies(topic);
    await deliver([first]);
    await deliver([second], { later: true });
    await deliver([first, second], { later: true });

    expect(died?.stoppedBecause).toMatch(/killed/);
    expect(again?.sent).toBe(1);
    expect([first.value, second.value]).toEqual([event, event]);
    expect(await counted()).toBe(1);
  });
});
