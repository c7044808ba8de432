import { afterAll, describe, expect, inject, it } from 'vitest';
import { cacheWithFallback, getWithFallback } from '../../lib/fallback/cache.ts';
import { drainFallback } from '../../lib/fallback/drain.ts';
import { fallbackListKey, sendWithFallback } from '../../lib/fallback/messages.ts';
import type { Services } from '../../lib/services.ts';
import { consumeMessages, countMessages, createTopic, uniqueTopic } from '../support/kafka.ts';
import { testStackOutages } from '../support/outages.ts';
import { inspector, keygen } from '../support/redis.ts';
import { servicesFor } from '../support/services.ts';

const stack = inject('stack');
const outages = testStackOutages();
const raw = inspector(stack);
const keys = keygen(raw);
const opened: Services[] = [];
const services = () => {
  const built = servicesFor(stack);
  opened.push(built);
  return built;
};

// Whatever happens below, the stack is running again for whoever comes next.
afterAll(async () => {
  await outages.startBroker();
  await outages.startGateway();
  await Promise.all(opened.map((s) => s.kafka?.disconnect()));
  await keys.cleanup();
});

describe('with the real broker stopped and restarted', () => {
  it('falls back to the Redis list during the outage, and the drain delivers every message once, in order', async () => {
    const topic = uniqueTopic('outage-drain');
    await createTopic(stack.kafkaBrokers, topic);
    keys.track(fallbackListKey(topic));
    const producer = services();
    await sendWithFallback(producer, topic, { value: { seq: -1 }, key: 'k' }); // warm: connected before the outage

    await outages.stopBroker();
    const paths: string[] = [];
    for (let seq = 0; seq < 20; seq += 1) {
      paths.push((await sendWithFallback(producer, topic, { value: { seq }, key: 'k' })).path);
    }
    expect(paths.every((path) => path === 'fallback')).toBe(true);
    expect(await raw.llen(fallbackListKey(topic))).toBe(20);

    await outages.startBroker();
    const [result] = await drainFallback(producer, topic);

    expect(result).toMatchObject({ sent: 20, remaining: 0 });
    const messages = await consumeMessages(stack.kafkaBrokers, topic, 21);
    expect(messages.map((m) => (m.value as { seq: number }).seq)).toEqual(
      Array.from({ length: 21 }, (_, i) => i - 1),
    );
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(21);
  });

  it('lets a producer that was connected before the restart send again afterwards', async () => {
    const topic = uniqueTopic('outage-reconnect');
    await createTopic(stack.kafkaBrokers, topic);
    const { kafka } = services();
    await kafka?.send(topic, { before: true });

    await outages.stopBroker();
    await outages.startBroker();
    await kafka?.send(topic, { after: true });

    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(2);
  });
});

describe('with the Upstash gateway stopped', () => {
  it('serves the cache from memory during the outage and from Redis again once it is back', async () => {
    const cache = services();
    const key = keys.key('profile');

    await outages.stopGateway();
    expect(await cacheWithFallback(cache, key, { name: 'Asha' }, 600)).toBe('memory');
    expect(await getWithFallback(cache, key)).toEqual({
      value: '{"name":"Asha"}',
      source: 'memory',
    });
    expect(cache.redis?.isConnected).toBe(false);

    await outages.startGateway();
    expect(await cacheWithFallback(cache, key, { name: 'Asha B.' }, 600)).toBe('redis');
    expect(await getWithFallback(cache, key)).toEqual({
      value: '{"name":"Asha B."}',
      source: 'redis',
    });
  });
});
