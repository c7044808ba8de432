import { Redis } from '@upstash/redis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { MessageNotAcceptedError, ValidationError } from '../../lib/errors.ts';
import { cacheWithFallback, getWithFallback } from '../../lib/fallback/cache.ts';
import {
  drainFallback,
  drainSendersKey,
  drainSendingKey,
  fallbackTopics,
} from '../../lib/fallback/drain.ts';
import {
  type FallbackEntry,
  fallbackListKey,
  sendWithFallback,
} from '../../lib/fallback/messages.ts';
import type { KafkaService } from '../../lib/kafka/producer.ts';
import { MemoryStore } from '../../lib/redis/memory-store.ts';
import { createRedisService, type RedisService } from '../../lib/redis/service.ts';
import { createServices, type Services } from '../../lib/services.ts';
import { PARKED_TOPICS } from '../../lib/topics.ts';
// Embedded Kafka, as npm start installs it in serverless offline (one test asks for it).
import '../../local/embedded/install.ts';
import { Keyspace } from '../../local/embedded/redis-keyspace.ts';
import { embeddedRequester } from '../../local/embedded/redis-requester.ts';
import { offlineInvoker } from '../../local/msk-bridge/index.ts';
import { loadEvent } from '../support/fixtures.ts';
import { consumeMessages, countMessages, createTopic, uniqueTopic } from '../support/kafka.ts';
import { CLOSED_URL, inspector, keygen } from '../support/redis.ts';
import { CLOSED_BROKER, servicesFor } from '../support/services.ts';
import { eventually } from '../support/wait.ts';

const stack = inject('stack');
const apiUrl = inject('apiUrl');
/** The drainFallback function of the shared serverless offline, invoked as its schedule does. */
const scheduledDrain = () =>
  offlineInvoker({ lambdaUrl: `http://127.0.0.1:${Number(new URL(apiUrl).port) + 2}` })(
    'narad-services-dev-drainFallback',
    loadEvent('schedule-drain-fallback.json'),
  );
const raw = inspector(stack);
const keys = keygen(raw);
const opened: Services[] = [];
const services = (overrides: Parameters<typeof servicesFor>[1] = {}) => {
  const built = servicesFor(stack, overrides);
  opened.push(built);
  return built;
};
afterAll(async () => {
  await Promise.all(opened.map((s) => s.kafka?.disconnect()));
  await keys.cleanup();
});

/** Parks `count` messages (seq `from`, `from + 1`, ...) in a topic's fallback list, as an outage would. */
const fillFallback = async (topic: string, count: number, from = 0) => {
  keys.track(fallbackListKey(topic));
  const down = services({ kafkaBrokers: CLOSED_BROKER });
  for (let i = from; i < from + count; i += 1) {
    const outcome = await sendWithFallback(down, topic, { value: { seq: i }, key: 'one-key' });
    expect(outcome.path).toBe('fallback');
  }
};

describe('sendWithFallback', () => {
  it('sends to Kafka when Kafka is up, and says so', async () => {
    const topic = uniqueTopic('fallback-kafka-up');
    await createTopic(stack.kafkaBrokers, topic);

    const outcome = await sendWithFallback(services(), topic, { value: { hello: 1 } });

    expect(outcome.path).toBe('kafka');
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(1);
    expect(await raw.llen(fallbackListKey(topic))).toBe(0);
  });

  it("pushes the design's {message, timestamp, originalTopic} to kafka_fallback:<topic> while Kafka is unreachable", async () => {
    const topic = uniqueTopic('fallback-kafka-down');
    keys.track(fallbackListKey(topic));

    const outcome = await sendWithFallback(
      services({ kafkaBrokers: CLOSED_BROKER }),
      topic,
      { value: { orderId: 'o-9' }, key: 'o-9' },
      { correlationId: 'corr-9' },
    );

    expect(outcome).toEqual({
      path: 'fallback',
      list: `kafka_fallback:${topic}`,
      correlationId: 'corr-9',
    });
    const [entry] = await raw.lrange<FallbackEntry>(fallbackListKey(topic), 0, -1);
    expect(entry).toMatchObject({
      message: { orderId: 'o-9' },
      key: 'o-9',
      originalTopic: topic,
      headers: { 'x-correlation-id': 'corr-9' },
    });
    // The design writes Date.now(): epoch milliseconds, a number.
    expect(entry?.timestamp).toEqual(expect.any(Number));
    expect(Math.abs(Date.now() - (entry?.timestamp ?? 0))).toBeLessThan(60_000);
  });

  it('fails with an error naming both problems when Kafka and Redis are both unreachable', async () => {
    const topic = uniqueTopic('fallback-both-down');

    const error = await sendWithFallback(
      services({ kafkaBrokers: CLOSED_BROKER, upstashUrl: CLOSED_URL }),
      topic,
      { value: 1 },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MessageNotAcceptedError);
    expect((error as Error).message).toMatch(
      /Kafka is unreachable.*fallback list kafka_fallback:.* could not be written.*retry/s,
    );
  });
});

describe('drainFallback', () => {
  it('replays every message to Kafka exactly once, oldest first, and empties the list', async () => {
    const topic = uniqueTopic('drain-order');
    await createTopic(stack.kafkaBrokers, topic);
    await fillFallback(topic, 25);

    const [result] = await drainFallback(services(), topic, { batchSize: 10 });

    expect(result).toMatchObject({ topic, sent: 25, remaining: 0, deadLettered: 0 });
    expect(result?.stoppedBecause).toBeUndefined();
    const messages = await consumeMessages(stack.kafkaBrokers, topic, 25);
    expect(messages.map((m) => (m.value as { seq: number }).seq)).toEqual(
      Array.from({ length: 25 }, (_, i) => i),
    );
    expect(
      messages.every(
        (m) => m.key === 'one-key' && /^[0-9a-f-]{36}$/.test(m.headers['x-correlation-id'] ?? ''),
      ),
    ).toBe(true);
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(25);
    expect(await raw.exists(fallbackListKey(topic))).toBe(0);
  });

  it('leaves the lists in Redis when Kafka is embedded, where a drain would move them into memory', async () => {
    const topic = uniqueTopic('drain-embedded');
    await fillFallback(topic, 3);
    const embedded = createServices(
      loadConfig({
        NARAD_EMBEDDED: 'kafka',
        UPSTASH_REDIS_REST_URL: stack.upstashUrl,
        UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
      }),
    );

    const [result] = await drainFallback(embedded, topic);

    expect(result).toMatchObject({ topic, sent: 0, remaining: 3 });
    expect(result?.stoppedBecause).toMatch(/Kafka is embedded/);
    expect(await raw.llen(fallbackListKey(topic))).toBe(3);
  });

  it('finds every topic that has a fallback list, for an operator to drain them all', async () => {
    const [first, second] = [uniqueTopic('drain-all-a'), uniqueTopic('drain-all-b')];
    await Promise.all([
      createTopic(stack.kafkaBrokers, first),
      createTopic(stack.kafkaBrokers, second),
    ]);
    await fillFallback(first, 2);
    await fillFallback(second, 3);
    const live = services();
    const found = await fallbackTopics(live.redis as RedisService);

    const results = await drainFallback(live, [first, second]);

    expect(found).toEqual(expect.arrayContaining([first, second]));
    expect(results).toEqual([
      expect.objectContaining({ topic: first, sent: 2, remaining: 0 }),
      expect.objectContaining({ topic: second, sent: 3, remaining: 0 }),
    ]);
  });

  it('drains on schedule only the topics the application parks, never another list', async () => {
    const topic = uniqueTopic('drain-scheduled-not-mine');
    await createTopic(stack.kafkaBrokers, topic);
    await fillFallback(topic, 2);

    const summary = (await scheduledDrain()) as {
      results: Array<{ topic: string }>;
    };

    expect(summary.results.map((result) => result.topic)).toEqual([...PARKED_TOPICS]);
    expect(await raw.llen(fallbackListKey(topic))).toBe(2);
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(0);
  });

  it('lets only one of two concurrent drains send, so no message goes twice', async () => {
    const topic = uniqueTopic('drain-concurrent');
    await createTopic(stack.kafkaBrokers, topic);
    await fillFallback(topic, 30);

    const results = (
      await Promise.all([
        drainFallback(services(), topic, { batchSize: 5 }),
        drainFallback(services(), topic, { batchSize: 5 }),
      ])
    ).flat();

    expect(results.reduce((sum, r) => sum + r.sent, 0)).toBe(30);
    expect(results.some((r) => r.stoppedBecause === 'another drain of this topic is running')).toBe(
      true,
    );
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(30);
  });

  it('a drain whose send outlasts its lock removes only what it sent: every message reaches Kafka once', async () => {
    const topic = uniqueTopic('drain-slow-send');
    await createTopic(stack.kafkaBrokers, topic);
    await fillFallback(topic, 2);
    const live = services();
    let sending = false;
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slowKafka: KafkaService = {
      ...(live.kafka as KafkaService),
      sendBatch: async (...args) => {
        sending = true;
        await held;
        return (live.kafka as KafkaService).sendBatch(...args);
      },
    };

    // Drain A takes messages 0 and 1 and hangs in its send (a slow broker)...
    const first = drainFallback({ ...live, kafka: slowKafka }, topic, { lockSeconds: 1 });
    await eventually(async () => sending, Boolean, { what: 'drain A sending' });
    // ...while its lock is lost (it expires; removed here, as its expiry would).
    keys.track(`kafka_fallback_lock:${topic}`);
    await raw.del(`kafka_fallback_lock:${topic}`);
    // Drain B takes over; then messages 2 and 3 are parked; then A's send returns.
    const [second] = await drainFallback(live, topic);
    await fillFallback(topic, 2, 2);
    release();
    const [firstResult] = await first;
    const [third] = await drainFallback(live, topic);

    expect(firstResult?.sent).toBe(2);
    expect((second?.sent ?? 0) + (third?.sent ?? 0)).toBe(2);
    const messages = await consumeMessages(stack.kafkaBrokers, topic, 4);
    expect(messages.map((m) => (m.value as { seq: number }).seq).sort()).toEqual([0, 1, 2, 3]);
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(4);
    expect(await raw.llen(fallbackListKey(topic))).toBe(0);
  });

  describe.each([
    ['Redis', () => raw],
    ['the embedded store', () => new Redis(embeddedRequester(new Keyspace()))],
  ])('on %s', (_, clientOf) => {
    it('puts back and sends the batch of a drain that died once its lease ran out, and leaves a live drain’s batch alone', async () => {
      const topic = uniqueTopic('drain-recovers');
      await createTopic(stack.kafkaBrokers, topic);
      const client = clientOf();
      const parkedAt = Date.now();
      const entry = (seq: number): FallbackEntry => ({
        id: `entry-${seq}`,
        message: { seq },
        key: 'one-key',
        headers: { 'x-correlation-id': `corr-${seq}` },
        timestamp: parkedAt,
        originalTopic: topic,
      });
      const list = keys.track(fallbackListKey(topic));
      const senders = keys.track(drainSendersKey(topic));
      const deadSending = keys.track(drainSendingKey(topic, 'dead-drain'));
      const liveSending = keys.track(drainSendingKey(topic, 'live-drain'));
      const liveLease = keys.track(`kafka_fallback_lease:${topic}:live-drain`);
      // A drain died after taking 0 and 1 (its lease is gone); 2 and 3 were parked after; a
      // live drain is sending 9 (its lease is being renewed).
      await client.rpush(deadSending, entry(0), entry(1));
      await client.lpush(list, entry(2), entry(3));
      await client.rpush(liveSending, entry(9));
      await client.set(liveLease, '1', { px: 60_000 });
      await client.sadd(senders, 'dead-drain', 'live-drain');
      const live = services();

      const [result] = await drainFallback(
        {
          kafka: live.kafka,
          redis: createRedisService(client, { requestTimeoutMs: 1_000, strings: client }),
        },
        topic,
      );

      expect(result).toMatchObject({ sent: 4, recovered: 2, remaining: 0 });
      const messages = await consumeMessages(stack.kafkaBrokers, topic, 4);
      expect(messages.map((m) => (m.value as { seq: number }).seq)).toEqual([0, 1, 2, 3]);
      expect(await client.exists(deadSending)).toBe(0);
      expect(await client.lrange(liveSending, 0, -1)).toEqual([entry(9)]);
      expect(await client.smembers(senders)).toEqual(['live-drain']);
    });
  });

  it('loses nothing when the drain dies half way: what was not acknowledged is still in the list', async () => {
    const topic = uniqueTopic('drain-dies');
    await createTopic(stack.kafkaBrokers, topic);
    await fillFallback(topic, 12);
    const live = services();
    let sends = 0;
    const dyingKafka: KafkaService = {
      ...(live.kafka as KafkaService),
      sendBatch: async (...args) => {
        sends += 1;
        if (sends === 2) throw new Error('process killed mid-drain');
        return (live.kafka as KafkaService).sendBatch(...args);
      },
    };

    const [partial] = await drainFallback({ ...live, kafka: dyingKafka }, topic, { batchSize: 5 });
    const [rest] = await drainFallback(live, topic, { batchSize: 5 });

    expect(partial).toMatchObject({
      sent: 5,
      remaining: 7,
      stoppedBecause: 'process killed mid-drain',
    });
    expect(rest).toMatchObject({ sent: 7, remaining: 0 });
    const messages = await consumeMessages(stack.kafkaBrokers, topic, 12);
    expect(messages.map((m) => (m.value as { seq: number }).seq)).toEqual(
      Array.from({ length: 12 }, (_, i) => i),
    );
  });

  it('moves entries that are not fallback entries aside instead of sending or dropping them', async () => {
    const topic = uniqueTopic('drain-malformed');
    await createTopic(stack.kafkaBrokers, topic);
    await fillFallback(topic, 1);
    await raw.lpush(fallbackListKey(topic), 'not an entry');
    keys.track(`kafka_fallback_dead:${topic}`);

    const [result] = await drainFallback(services(), topic);

    expect(result).toMatchObject({ sent: 1, deadLettered: 1, remaining: 0 });
    expect(await raw.lrange(`kafka_fallback_dead:${topic}`, 0, -1)).toEqual(['not an entry']);
  });
});

describe('cacheWithFallback / getWithFallback', () => {
  it("uses Redis while it is reachable, answering the string stored as the design's callers expect", async () => {
    const live = services();
    const key = keys.key('cache-up');

    expect(await cacheWithFallback(live, key, JSON.stringify({ v: 1 }), 60)).toBe('redis');
    const read = await getWithFallback(live, key);

    expect(read).toEqual({ value: '{"v":1}', source: 'redis' });
    expect(JSON.parse(read.value ?? '')).toEqual({ v: 1 });
    expect(live.memory.size).toBe(0);
  });

  it('keeps a value 300 s in Redis when no TTL is given (the design default)', async () => {
    const live = services();
    const key = keys.key('cache-default-ttl');

    await cacheWithFallback(live, key, 'cached');

    const ttl = await raw.ttl(key);
    expect(ttl).toBeGreaterThan(290);
    expect(ttl).toBeLessThanOrEqual(300);
  });

  it('takes over with the in-memory store while Redis is unreachable, answering the same string', async () => {
    const down = services({ upstashUrl: CLOSED_URL });

    expect(await cacheWithFallback(down, 'user:u1:profile', { name: 'Asha' }, 600)).toBe('memory');
    expect(await getWithFallback(down, 'user:u1:profile')).toEqual({
      value: '{"name":"Asha"}',
      source: 'memory',
    });
    expect(await getWithFallback(down, 'user:unknown:profile')).toEqual({
      value: null,
      source: 'memory',
    });
  });

  it('keeps a value 300 s in memory too when no TTL is given', async () => {
    let now = 1_000_000;
    const down = {
      redis: services({ upstashUrl: CLOSED_URL }).redis,
      memory: new MemoryStore(100, () => now),
    };

    await cacheWithFallback(down, 'user:u2:profile', 'cached');
    now += 299_000;
    const before = await getWithFallback(down, 'user:u2:profile');
    now += 1_000;
    const after = await getWithFallback(down, 'user:u2:profile');

    expect(before.value).toBe('cached');
    expect(after).toEqual({ value: null, source: 'memory' });
  });

  it('refuses a TTL that is not a whole number of seconds above 0, and stores nothing', async () => {
    const live = services();
    const key = keys.key('cache-bad-ttl');

    for (const ttl of [0, -1, 2.5]) {
      await expect(cacheWithFallback(live, key, 'x', ttl)).rejects.toThrowError(ValidationError);
    }

    expect(await raw.exists(key)).toBe(0);
    expect(live.memory.size).toBe(0);
  });
});
