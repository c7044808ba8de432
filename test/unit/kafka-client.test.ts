import { describe, expect, it, vi } from 'vitest';

// What the kafkajs constructor is handed, exactly as kafkajs receives it.
const received: unknown[] = [];
vi.mock('kafkajs', async (importOriginal) => {
  const kafkajs = await importOriginal<typeof import('kafkajs')>();
  return {
    ...kafkajs,
    Kafka: class extends kafkajs.Kafka {
      constructor(config: ConstructorParameters<typeof kafkajs.Kafka>[0]) {
        received.push(config);
        super(config);
      }
    },
  };
});

const { kafkaServers, loadConfig } = await import('../../lib/config.ts');
const { createKafkaClient } = await import('../../lib/kafka/client.ts');

describe('createKafkaClient', () => {
  it.each([
    ['development', {}, { initialRetryTime: 100, retries: 3 }],
    [
      'production',
      {
        NODE_ENV: 'production',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'narad',
        KAFKA_SASL_PASSWORD: 'secret',
        UPSTASH_REDIS_REST_URL: 'https://eu1-example.upstash.io',
        UPSTASH_REDIS_REST_TOKEN: 'token',
        SERVICE_API_KEY: 'service-key-0123456789abcdef-0123456789',
        USER_SOURCE_URL: 'https://users.example.com',
      },
      { initialRetryTime: 300, retries: 8 },
    ],
  ])(
    'hands kafkajs the %s profile retry settings under the names kafkajs reads',
    (_, env, retry) => {
      const config = kafkaServers(loadConfig({ KAFKA_BROKERS: '127.0.0.1:9092', ...env }).kafka);
      if (!config) throw new Error('no Kafka config');
      received.length = 0;

      createKafkaClient(config);

      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({
        retry,
        connectionTimeout: config.connectionTimeoutMs,
        authenticationTimeout: config.connectionTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
      });
      expect((received[0] as { retry: object }).retry).not.toHaveProperty('initialRetryTimeMs');
    },
  );
});
