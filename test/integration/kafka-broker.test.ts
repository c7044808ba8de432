import { randomUUID } from 'node:crypto';
import {
  type Consumer,
  Kafka,
  KafkaJSSASLAuthenticationError,
  type KafkaMessage,
  logLevel,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { KAFKA_SASL_USERS } from '../../local/kafka/broker.ts';

// The tests' own broker (test/support/test-stack.ts): its PLAINTEXT and SASL listeners.
const stack = inject('stack');
const BROKERS = [stack.kafkaBrokers];
const SASL_BROKERS = [stack.kafkaSaslBrokers];

const kafka = new Kafka({
  clientId: 'narad-kafka-broker-test',
  brokers: BROKERS,
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
const openClients: Array<Producer | Consumer> = [];
const createdTopics: string[] = [];

const uniqueName = (purpose: string): string => `narad-test.${purpose}.${randomUUID()}`;

/** Creates a topic no other test uses, removed again after the file. */
const createTopic = async (purpose: string, numPartitions = 1): Promise<string> => {
  const topic = uniqueName(purpose);
  await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true });
  createdTopics.push(topic);
  return topic;
};

const track = <T extends Producer | Consumer>(client: T): T => {
  openClients.push(client);
  return client;
};

/** A producer on the SASL listener that gives up at the first failure (no retry noise). */
const saslProducer = (sasl: SASLOptions): Producer =>
  track(
    new Kafka({
      clientId: 'narad-kafka-broker-test-sasl',
      brokers: SASL_BROKERS,
      sasl,
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
    }).producer(),
  );

/**
 * Runs `consumer` and resolves with the first message it receives.
 * @throws when no message arrives within `timeoutMs`.
 */
const firstMessage = (consumer: Consumer, timeoutMs = 15_000): Promise<KafkaMessage> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no message arrived within ${timeoutMs} ms`)),
      timeoutMs,
    );
    consumer
      .run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          resolve(message);
        },
      })
      .catch(reject);
  });

const headersAsStrings = (headers: KafkaMessage['headers']): Record<string, string> =>
  Object.fromEntries(Object.entries(headers ?? {}).map(([name, value]) => [name, String(value)]));

beforeAll(async () => {
  await admin.connect();
});

afterAll(async () => {
  await Promise.all(openClients.map((client) => client.disconnect()));
  if (createdTopics.length > 0) await admin.deleteTopics({ topics: createdTopics });
  await admin.disconnect();
});

describe('the local Kafka broker', () => {
  it('creates a topic with the requested number of partitions', async () => {
    const topic = await createTopic('partitions', 4);

    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });

    expect(metadata.topics).toHaveLength(1);
    expect(metadata.topics[0]?.partitions.map(({ partitionId }) => partitionId).sort()).toEqual([
      0, 1, 2, 3,
    ]);
  });

  it('delivers a message to a consumer group with its key, headers and JSON value unchanged', async () => {
    const topic = await createTopic('roundtrip');
    const sent = {
      key: `order-${randomUUID()}`,
      headers: { 'content-type': 'application/json', 'x-correlation-id': randomUUID() },
      value: { orderId: 'o-1', items: [{ sku: 'tea', quantity: 2 }], total: 7.5 },
    };
    const producer = track(kafka.producer());
    const consumer = track(kafka.consumer({ groupId: uniqueName('group'), maxWaitTimeInMs: 100 }));
    await Promise.all([producer.connect(), consumer.connect()]);
    await consumer.subscribe({ topic, fromBeginning: true });
    const arrival = firstMessage(consumer);

    await producer.send({
      topic,
      messages: [{ key: sent.key, headers: sent.headers, value: JSON.stringify(sent.value) }],
    });
    const received = await arrival;

    expect(received.key?.toString()).toBe(sent.key);
    expect(headersAsStrings(received.headers)).toEqual(sent.headers);
    expect(JSON.parse(received.value?.toString() ?? 'null')).toEqual(sent.value);
  });

  describe('on the SASL listener', () => {
    const { plain, scram } = KAFKA_SASL_USERS;
    const mechanisms = [
      { mechanism: 'plain', label: 'PLAIN', user: plain },
      { mechanism: 'scram-sha-256', label: 'SCRAM SHA256', user: scram },
      { mechanism: 'scram-sha-512', label: 'SCRAM SHA512', user: scram },
    ] as const;

    // A new object for every client: kafkajs stores its authenticator on the sasl object it is
    // given, with the password captured, so a copy made by spreading a used one keeps
    // authenticating with the old password whatever its own `password` says.
    const saslOptions = (
      { mechanism, user }: (typeof mechanisms)[number],
      password: string = user.password,
    ): SASLOptions => ({ mechanism, username: user.username, password });

    it.each(mechanisms)(
      'accepts $mechanism with the right password and takes a message',
      async (entry) => {
        const topic = await createTopic(`sasl-${entry.mechanism}`);
        const producer = saslProducer(saslOptions(entry));

        await producer.connect();
        const [written] = await producer.send({ topic, messages: [{ value: 'authenticated' }] });

        expect(written).toMatchObject({ topicName: topic, errorCode: 0 });
        expect(await admin.fetchTopicOffsets(topic)).toEqual([
          expect.objectContaining({ partition: 0, high: '1' }),
        ]);
      },
    );

    it.each(mechanisms)(
      'rejects $mechanism with a wrong password as an authentication error',
      async (entry) => {
        const producer = saslProducer(saslOptions(entry, 'not-the-password'));

        const failure = await producer.connect().then(
          () => undefined,
          (error: unknown) => error,
        );

        expect(failure).toBeInstanceOf(KafkaJSSASLAuthenticationError);
        expect(failure).toMatchObject({
          name: 'KafkaJSSASLAuthenticationError',
          message: expect.stringContaining(`SASL ${entry.label} authentication failed`),
        });
      },
    );
  });
});
