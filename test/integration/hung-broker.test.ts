import net from 'node:net';
import type { ISocketFactory } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type Config,
  type KafkaConfig,
  kafkaServers,
  loadConfig,
  profileDefaults,
  type RedisConfig,
  upstashRedis,
} from '../../lib/config.ts';
import { withDeadline } from '../../lib/deadline.ts';
import { KafkaDeliveryUnknownError } from '../../lib/errors.ts';
import { fallbackListKey, sendWithFallback } from '../../lib/fallback/messages.ts';
import { checkHealth } from '../../lib/health.ts';
import { createKafkaClient } from '../../lib/kafka/client.ts';
import { createKafkaService } from '../../lib/kafka/producer.ts';
import { orderKeys } from '../../lib/keys.ts';
import { createOrder } from '../../lib/orders/create-order.ts';
import { createServices, type Services } from '../../lib/services.ts';
import { lambdaContext } from '../../local/msk-bridge/invokers.ts';
import { startHungBroker } from '../support/hung-broker.ts';
import { countMessages, createTopic, uniqueTopic } from '../support/kafka.ts';
import { inspector, keygen } from '../support/redis.ts';

/**
 * A broker that hangs (accepts connections, never answers) instead of refusing: the common
 * failure on AWS (a security group, a lost AZ, a failover). With the production profile's
 * timeouts, every invocation must still answer inside its Lambda timeout, with the fallback
 * having acted: the order parked and accepted, the health report saying Kafka is down.
 */

const stack = inject('stack');
const raw = inspector(stack);
const keys = keygen(raw);
const opened: Services[] = [];
let hung: Awaited<ReturnType<typeof startHungBroker>>;

/** The functions' timeout (serverless.yml: 10 s for the producers and /health). */
const FUNCTION_TIMEOUT_MS = 10_000;

/** The configuration a deployed function would have, with production's timeouts and retries. */
const productionTimeouts = (
  brokers: string,
): Config & { kafka: KafkaConfig; redis: RedisConfig } => {
  const config = loadConfig({
    KAFKA_BROKERS: brokers,
    KAFKA_CLIENT_ID: 'narad-tests',
    UPSTASH_REDIS_REST_URL: stack.upstashUrl,
    UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
  });
  const production = profileDefaults('production');
  const kafka = kafkaServers(config.kafka);
  const redis = upstashRedis(config.redis);
  if (!kafka || !redis) throw new Error('test config lacks Kafka or Redis');
  return {
    ...config,
    kafka: {
      ...kafka,
      connectionTimeoutMs: production.connectionTimeoutMs,
      requestTimeoutMs: production.requestTimeoutMs,
      retry: { ...production.retry },
    },
    redis: {
      ...redis,
      requestTimeoutMs: production.redisRequestTimeoutMs,
      retries: production.redisRetries,
    },
  };
};

const servicesWith = (config: Config): Services => {
  const services = createServices(config);
  opened.push(services);
  return services;
};

/** Runs `work` as an invocation of a function with FUNCTION_TIMEOUT_MS would, timing it. */
const invocation = async <T>(name: string, work: () => Promise<T>) => {
  const started = performance.now();
  const result = await withDeadline(lambdaContext(name, FUNCTION_TIMEOUT_MS), work);
  return { result, ms: performance.now() - started };
};

beforeAll(async () => {
  hung = await startHungBroker();
});
afterAll(async () => {
  await Promise.all(opened.map((services) => services.kafka?.disconnect()));
  await hung.close();
  await keys.cleanup();
});

describe('a broker that accepts connections and never answers, with production timeouts', () => {
  it('accepts POST /orders from the fallback list inside the function timeout', async () => {
    const services = servicesWith(productionTimeouts(hung.address));
    const userId = `hung-${Date.now()}`;

    const { result, ms } = await invocation('createOrder', () =>
      createOrder(
        services,
        { userId, items: [{ sku: 'SKU-1', quantity: 1, price: 4 }], currency: 'EUR' },
        { correlationId: `hung-${userId}` },
      ),
    );

    for (const key of Object.values(orderKeys(result.orderId))) keys.track(key);
    expect(result).toMatchObject({ status: 'pending', path: 'fallback' });
    expect(ms).toBeLessThan(FUNCTION_TIMEOUT_MS);
    const parked = await raw.lrange<{ message: { orderId: string } }>(
      fallbackListKey('orders'),
      0,
      -1,
    );
    expect(parked.map((entry) => entry.message.orderId)).toContain(result.orderId);
    await raw.lrem(
      fallbackListKey('orders'),
      1,
      parked.find((entry) => entry.message.orderId === result.orderId),
    );
  }, 20_000);

  it('answers inside the function timeout even when the clients would wait far longer', async () => {
    const patient = productionTimeouts(hung.address);
    const services = servicesWith({
      ...patient,
      kafka: {
        ...patient.kafka,
        connectionTimeoutMs: 60_000,
        requestTimeoutMs: 60_000,
      },
    });

    const { result, ms } = await invocation('trackEvents', () =>
      sendWithFallback(services, 'user.events', { value: { patient: true }, key: 'u' }),
    );

    expect(result.path).toBe('fallback');
    expect(ms).toBeLessThan(FUNCTION_TIMEOUT_MS);
    const parked = await raw.lrange<{ message: { patient?: boolean } }>(
      fallbackListKey('user.events'),
      0,
      -1,
    );
    const ours = parked.find((entry) => entry.message.patient === true);
    expect(ours).toBeDefined();
    await raw.lrem(fallbackListKey('user.events'), 1, ours);
  }, 20_000);

  it('reports Kafka down from GET /health inside the function timeout', async () => {
    const services = servicesWith({
      ...productionTimeouts(hung.address),
      profile: 'production',
    });

    const { result, ms } = await invocation('health', () => checkHealth(services));

    expect(result.services.kafka.status).toBe('disconnected');
    expect(result.services.redis.status).toBe('connected');
    expect(result.tests.kafka.status).toBe('fail');
    expect(result.overall).toBe('unhealthy');
    expect(ms).toBeLessThan(FUNCTION_TIMEOUT_MS);
  }, 20_000);
});

describe('a connection that hangs after the records were handed to the broker', () => {
  it('parks the send as possibly delivered, since the broker may have appended it', async () => {
    const topic = uniqueTopic('hung-after-send');
    await createTopic(stack.kafkaBrokers, topic);
    keys.track(fallbackListKey(topic));
    // Our sockets to the real broker; pausing them stops reading its answers, as a connection
    // that went silent in both directions after our request left would.
    const sockets: net.Socket[] = [];
    const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
      const socket = net.connect({ host, port }, onConnect);
      sockets.push(socket);
      return socket;
    };
    const config = productionTimeouts(stack.kafkaBrokers);
    const kafka = createKafkaService(createKafkaClient(config.kafka, { socketFactory }), {
      idempotent: true,
      allowAutoTopicCreation: true,
      retry: config.kafka.retry,
    });
    const { redis } = servicesWith(config);
    await kafka.send(topic, { seq: 1 });
    for (const socket of sockets) socket.pause();

    const direct = await withDeadline(lambdaContext('trackEvents', 2_000), () =>
      kafka.send(topic, { seq: 2 }).catch((error: unknown) => error),
    );
    const { result: outcome, ms } = await invocation('trackEvents', () =>
      sendWithFallback({ kafka, redis }, topic, { value: { seq: 3 } }),
    );
    await kafka.disconnect();

    expect(direct).toBeInstanceOf(KafkaDeliveryUnknownError);
    expect(outcome.path).toBe('fallback');
    expect(ms).toBeLessThan(FUNCTION_TIMEOUT_MS);
    expect(await raw.llen(fallbackListKey(topic))).toBe(1);
    // The broker appended what it was handed: the parked copy is a duplicate, which the
    // consumers de-duplicate by business key; a message lost would not be recoverable.
    expect(await countMessages(stack.kafkaBrokers, topic)).toBeGreaterThanOrEqual(2);
  }, 30_000);
});
