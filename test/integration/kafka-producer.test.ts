import net from 'node:net';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  type ISocketFactory,
  ResourcePatternTypes,
} from 'kafkajs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type KafkaConfig, kafkaServers, loadConfig } from '../../lib/config.ts';
import {
  KafkaAuthenticationError,
  KafkaAuthorizationError,
  KafkaMessageTooLargeError,
  KafkaUnavailableError,
  ValidationError,
} from '../../lib/errors.ts';
import { createKafkaClient } from '../../lib/kafka/client.ts';
import {
  createKafkaService,
  type KafkaService,
  type ProducerSettings,
} from '../../lib/kafka/producer.ts';
import { KAFKA_SASL_USERS } from '../../local/kafka/broker.ts';
import {
  consumeMessages,
  countMessages,
  createTopic,
  testKafka,
  uniqueTopic,
} from '../support/kafka.ts';

const stack = inject('stack');

const kafkaConfig = (env: Record<string, string>): KafkaConfig => {
  const config = kafkaServers(
    loadConfig({ KAFKA_BROKERS: stack.kafkaBrokers, KAFKA_CLIENT_ID: 'narad-tests', ...env }).kafka,
  );
  if (!config) throw new Error('test config has no Kafka');
  return config;
};

/** kafkajs's own socket factory, remembering every TCP connection it opens. */
const countingSockets = () => {
  const sockets: net.Socket[] = [];
  const factory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = net.connect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    sockets.push(socket);
    return socket;
  };
  return { factory, sockets, open: () => sockets.filter((socket) => !socket.destroyed).length };
};

const services: KafkaService[] = [];
const serviceFor = (
  config: KafkaConfig,
  socketFactory?: ISocketFactory,
  settings: Partial<ProducerSettings> = {},
) => {
  const service = createKafkaService(createKafkaClient(config, { socketFactory }), {
    idempotent: true,
    allowAutoTopicCreation: true,
    retry: config.retry,
    ...settings,
  });
  services.push(service);
  return service;
};

afterAll(async () => {
  await Promise.all(services.map((service) => service.disconnect()));
});

describe('the Kafka service', () => {
  it('sends the message itself as JSON, with key, headers and a correlation id as options, that a consumer reads back', async () => {
    const topic = uniqueTopic('producer-roundtrip');
    await createTopic(stack.kafkaBrokers, topic);
    const kafka = serviceFor(kafkaConfig({}));

    const result = await kafka.send(
      topic,
      { orderId: 'o-1', total: 33.5, note: 'ünïcode ✓' },
      { key: 'o-1', headers: { source: 'test' }, correlationId: 'corr-1' },
    );

    expect(result).toMatchObject({ topic, count: 1, correlationId: 'corr-1' });
    const [message] = await consumeMessages(stack.kafkaBrokers, topic, 1);
    expect(message).toMatchObject({
      key: 'o-1',
      value: { orderId: 'o-1', total: 33.5, note: 'ünïcode ✓' },
      headers: { source: 'test', 'x-correlation-id': 'corr-1' },
    });
  });

  it('makes a correlation id when the caller gives none, and sends a batch in order', async () => {
    const topic = uniqueTopic('producer-batch');
    await createTopic(stack.kafkaBrokers, topic);
    const kafka = serviceFor(kafkaConfig({}));

    const result = await kafka.sendBatch(
      topic,
      Array.from({ length: 20 }, (_, i) => ({ value: { i } })),
      { key: 'same-partition' },
    );

    expect(result.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    const messages = await consumeMessages(stack.kafkaBrokers, topic, 20);
    expect(messages.map((m) => (m.value as { i: number }).i)).toEqual(
      Array.from({ length: 20 }, (_, i) => i),
    );
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(20);
  });

  it('reuses one producer and its TCP connections across invocations of a warm container', async () => {
    const topic = uniqueTopic('producer-reuse');
    await createTopic(stack.kafkaBrokers, topic);
    const sockets = countingSockets();
    const kafka = serviceFor(kafkaConfig({}), sockets.factory);
    expect(kafka.isConnected).toBe(false);

    await kafka.send(topic, { invocation: 1 });
    const afterFirst = sockets.sockets.length;
    await kafka.send(topic, { invocation: 2 });

    expect(kafka.isConnected).toBe(true);
    expect(afterFirst).toBeGreaterThan(0);
    expect(sockets.sockets.length).toBe(afterFirst);
  });

  it('reconnects when the broker dropped its idle connections, instead of failing the send', async () => {
    const topic = uniqueTopic('producer-idle-drop');
    await createTopic(stack.kafkaBrokers, topic);
    const sockets = countingSockets();
    const kafka = serviceFor(kafkaConfig({}), sockets.factory);
    await kafka.send(topic, { before: true });
    const before = sockets.sockets.length;

    // What a broker's connections.max.idle.ms does to a frozen Lambda container's sockets:
    // the connection is closed under it (FIN from our side makes the broker close its end).
    await Promise.all(
      sockets.sockets.map(
        (socket) => new Promise((resolve) => socket.once('close', resolve).end()),
      ),
    );
    await kafka.send(topic, { after: true });

    expect(sockets.sockets.length).toBeGreaterThan(before);
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(2);
  });

  it('refuses a bad topic name or a value that is not JSON before touching Kafka', async () => {
    const kafka = serviceFor(kafkaConfig({}));
    await expect(kafka.send('bad topic!', 1)).rejects.toThrowError(ValidationError);
    await expect(kafka.send('ok', undefined)).rejects.toThrowError(/has no JSON value/);
    await expect(kafka.send('ok', [1, 2] as never)).rejects.toThrowError(
      /takes one message, not an array.*sendBatch/,
    );
    expect(kafka.isConnected).toBe(false);
  });

  it('reports a message larger than the broker accepts as KafkaMessageTooLargeError', async () => {
    const topic = uniqueTopic('producer-too-large');
    await createTopic(stack.kafkaBrokers, topic);
    const kafka = serviceFor(kafkaConfig({}));

    const error = await kafka
      .send(topic, { value: 'x'.repeat(2 * 1024 * 1024) })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(KafkaMessageTooLargeError);
    expect((error as Error).message).toContain(topic);
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(0);
  });

  it('reports an unreachable broker as KafkaUnavailableError within the development timeouts', async () => {
    const kafka = serviceFor(kafkaConfig({ KAFKA_BROKERS: '127.0.0.1:1' }));
    const started = performance.now();

    const error = await kafka.send('anything', 1).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(KafkaUnavailableError);
    expect((error as Error).message).toMatch(/Kafka is unreachable .*KAFKA_BROKERS/);
    expect(performance.now() - started).toBeLessThan(15_000);
  });
});

describe('during a Kafka outage', () => {
  it('fails later sends at once instead of waiting out the retries again, and tries the brokers after the pause', async () => {
    let clock = 1_000_000;
    const sockets = countingSockets();
    const kafka = serviceFor(kafkaConfig({ KAFKA_BROKERS: '127.0.0.1:1' }), sockets.factory, {
      outagePauseMs: 2_000,
      now: () => clock,
    });
    await expect(kafka.send('anything', 1)).rejects.toThrowError(KafkaUnavailableError);
    const attemptsAfterFirst = sockets.sockets.length;

    const paused = await kafka.send('anything', 2).catch((e: unknown) => e);

    // Failed without trying: no new connection attempt was made.
    expect(paused).toBeInstanceOf(KafkaUnavailableError);
    expect((paused as Error).message).toMatch(/not waiting on it again for 2000 ms/);
    expect(sockets.sockets.length).toBe(attemptsAfterFirst);

    clock += 2_000;
    await expect(kafka.send('anything', 3)).rejects.toThrowError(KafkaUnavailableError);
    expect(sockets.sockets.length).toBeGreaterThan(attemptsAfterFirst);
  });
});

describe("SASL against the broker's SASL listener", () => {
  const sasl = (mechanism: string, username: string, password: string) =>
    kafkaConfig({
      KAFKA_BROKERS: stack.kafkaSaslBrokers,
      KAFKA_SASL_MECHANISM: mechanism,
      KAFKA_SASL_USERNAME: username,
      KAFKA_SASL_PASSWORD: password,
    });

  it.each([
    ['plain', KAFKA_SASL_USERS.plain],
    ['scram-sha-256', KAFKA_SASL_USERS.scram],
    ['scram-sha-512', KAFKA_SASL_USERS.scram],
  ])('produces with %s and the right password', async (mechanism, user) => {
    const topic = uniqueTopic(`sasl-${mechanism}`);
    await createTopic(stack.kafkaBrokers, topic);
    const kafka = serviceFor(sasl(mechanism, user.username, user.password));

    await kafka.send(topic, { mechanism });

    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(1);
  });

  it.each([
    ['plain', KAFKA_SASL_USERS.plain.username],
    ['scram-sha-512', KAFKA_SASL_USERS.scram.username],
  ])(
    'fails with %s and a wrong password: KafkaAuthenticationError naming the variables, not the secret',
    async (mechanism, username) => {
      const kafka = serviceFor(sasl(mechanism, username, 'definitely-wrong-password'));

      const error = await kafka.send('anything', 1).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(KafkaAuthenticationError);
      expect((error as Error).message).toMatch(/KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/);
      expect((error as Error).message).not.toContain('definitely-wrong-password');
    },
  );

  it('reports a topic the user may not write to as KafkaAuthorizationError', async () => {
    const topic = uniqueTopic('sasl-denied');
    await createTopic(stack.kafkaBrokers, topic);
    const admin = testKafka(stack.kafkaBrokers).admin();
    await admin.connect();
    await admin.createAcls({
      acl: [
        {
          resourceType: AclResourceTypes.TOPIC,
          resourceName: topic,
          resourcePatternType: ResourcePatternTypes.LITERAL,
          principal: `User:${KAFKA_SASL_USERS.scram.username}`,
          host: '*',
          operation: AclOperationTypes.WRITE,
          permissionType: AclPermissionTypes.DENY,
        },
      ],
    });
    await admin.disconnect();
    const { username, password } = KAFKA_SASL_USERS.scram;
    const kafka = serviceFor(sasl('scram-sha-256', username, password));

    const error = await kafka.send(topic, 1).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(KafkaAuthorizationError);
    expect((error as Error).message).toContain(`Not authorized to write to topic "${topic}"`);
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(0);
  });
});
