import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { type KafkaConfig, kafkaServers, loadConfig } from '../../lib/config.ts';
import { createKafkaClient } from '../../lib/kafka/client.ts';
import { discoverBrokers, forgetDiscoveredBrokers } from '../../lib/kafka/discovery.ts';
import { createKafkaService } from '../../lib/kafka/producer.ts';
import { countMessages, createTopic, uniqueTopic } from '../support/kafka.ts';

const stack = inject('stack');
const ARN =
  'arn:aws:kafka:eu-west-1:123456789012:cluster/narad-test/751d2973-a626-431c-9d4e-d7975eb44dd7-2';

/**
 * A local HTTP endpoint answering GetBootstrapBrokers as the MSK API does (REST-JSON,
 * GET /v1/clusters/{arn}/bootstrap-brokers), so the real SDK client, its serializer and its
 * request signing run unchanged.
 */
const requests: IncomingMessage[] = [];
let server: Server;
let endpoint: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    requests.push(request);
    const match = request.url?.match(/^\/v1\/clusters\/([^/]+)\/bootstrap-brokers$/);
    if (request.method !== 'GET' || !match || decodeURIComponent(match[1] ?? '') !== ARN) {
      response.writeHead(404, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'NotFoundException',
      });
      response.end(JSON.stringify({ message: 'The requested resource could not be found.' }));
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        bootstrapBrokerString: stack.kafkaBrokers,
        bootstrapBrokerStringTls: 'b-1.tls.example:9094,b-2.tls.example:9094',
        bootstrapBrokerStringSaslScram: 'b-1.scram.example:9096,b-2.scram.example:9096',
        bootstrapBrokerStringSaslIam: 'b-1.iam.example:9098,b-2.iam.example:9098',
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  requests.length = 0;
  forgetDiscoveredBrokers();
});

const discovery = () => ({
  endpoint,
  credentials: {
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  },
});

const mskConfig = (env: Record<string, string> = {}): KafkaConfig => {
  const config = kafkaServers(loadConfig({ MSK_CLUSTER_ARN: ARN, ...env }).kafka);
  if (!config) throw new Error('no Kafka config');
  return config;
};

describe('MSK bootstrap-broker discovery with @aws-sdk/client-kafka', () => {
  it.each([
    ['plaintext', {}, [stack.kafkaBrokers]],
    ['TLS', { KAFKA_SSL: 'true' }, ['b-1.tls.example:9094', 'b-2.tls.example:9094']],
    [
      'SASL/SCRAM',
      {
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'u',
        KAFKA_SASL_PASSWORD: 'p',
      },
      ['b-1.scram.example:9096', 'b-2.scram.example:9096'],
    ],
    [
      'SASL/IAM',
      { KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'aws-iam' },
      ['b-1.iam.example:9098', 'b-2.iam.example:9098'],
    ],
  ])('picks the %s broker string for that auth mode', async (_mode, env, expected) => {
    expect(await discoverBrokers(mskConfig(env), discovery())).toEqual(expected);
  });

  it("sends a signed GET for the cluster ARN from the config's region", async () => {
    await discoverBrokers(mskConfig(), discovery());
    const [request] = requests;
    expect(request?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/kafka\/aws4_request/,
    );
  });

  it('asks once per container, however many connections need the brokers', async () => {
    const config = mskConfig();
    await Promise.all([discoverBrokers(config, discovery()), discoverBrokers(config, discovery())]);
    await discoverBrokers(config, discovery());
    expect(requests).toHaveLength(1);
  });

  it('fails with the cluster and auth mode named when MSK has no such listener, and asks again next time', async () => {
    const config = mskConfig({
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
    });
    await expect(discoverBrokers(config, discovery())).rejects.toThrowError(
      /has no bootstrap brokers for auth mode "plain"/,
    );
    await expect(discoverBrokers(config, discovery())).rejects.toThrowError();
    expect(requests).toHaveLength(2);
  });

  it('lets the producer send to the brokers it discovered (real broker behind the answer)', async () => {
    const topic = uniqueTopic('msk-discovered');
    await createTopic(stack.kafkaBrokers, topic);
    const config = mskConfig();
    const kafka = createKafkaService(createKafkaClient(config, { discovery: discovery() }), {
      idempotent: true,
      allowAutoTopicCreation: true,
      retry: { initialRetryTimeMs: 100, retries: 3 },
    });
    try {
      await kafka.send(topic, { discovered: true });
    } finally {
      await kafka.disconnect();
    }
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(1);
    expect(requests).toHaveLength(1);
  });
});
