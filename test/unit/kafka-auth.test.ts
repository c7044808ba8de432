import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kafkaServers, loadConfig } from '../../lib/config.ts';
import { saslOptionsOf } from '../../lib/kafka/auth.ts';
import { brokerStringFor } from '../../lib/kafka/discovery.ts';

const kafkaConfigOf = (env: Record<string, string>) => {
  const config = kafkaServers(loadConfig({ KAFKA_BROKERS: 'b-1.example:9098', ...env }).kafka);
  if (!config) throw new Error('no Kafka config');
  return config;
};

describe('SASL options', () => {
  it('are absent without a mechanism, and passed through for PLAIN/SCRAM', () => {
    expect(saslOptionsOf(kafkaConfigOf({}))).toBeUndefined();
    expect(
      saslOptionsOf(
        kafkaConfigOf({
          KAFKA_SASL_MECHANISM: 'scram-sha-256',
          KAFKA_SASL_USERNAME: 'u',
          KAFKA_SASL_PASSWORD: 'p',
        }),
      ),
    ).toEqual({ mechanism: 'scram-sha-256', username: 'u', password: 'p' });
  });

  it('refuse IAM without a region to sign for', () => {
    expect(() => saslOptionsOf(kafkaConfigOf({ KAFKA_SASL_MECHANISM: 'aws-iam' }))).toThrowError(
      /AWS_REGION/,
    );
  });
});

describe('MSK IAM auth (OAUTHBEARER with aws-msk-iam-sasl-signer-js)', () => {
  const saved = { ...process.env };
  beforeEach(() => {
    // Static credentials: the signer presigns locally, nothing leaves the machine.
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  it('gives kafkajs a SigV4-presigned kafka-cluster:Connect token for the region', async () => {
    const options = saslOptionsOf(
      kafkaConfigOf({ KAFKA_SASL_MECHANISM: 'aws-iam', AWS_REGION: 'eu-west-1' }),
    );
    expect(options?.mechanism).toBe('oauthbearer');

    const { value } = await (
      options as { oauthBearerProvider: () => Promise<{ value: string }> }
    ).oauthBearerProvider();
    const url = new URL(Buffer.from(value, 'base64url').toString());

    expect(url.host).toBe('kafka.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('kafka-cluster:Connect');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(
      /^AKIDEXAMPLE\/\d{8}\/eu-west-1\/kafka-cluster\/aws4_request$/,
    );
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('which MSK bootstrap string serves an auth mode', () => {
  const strings = {
    BootstrapBrokerString: 'plain:9092',
    BootstrapBrokerStringTls: 'tls:9094',
    BootstrapBrokerStringSaslScram: 'scram:9096',
    BootstrapBrokerStringSaslIam: 'iam:9098',
  };
  it.each([
    [{}, 'plain:9092'],
    [{ KAFKA_SSL: 'true' }, 'tls:9094'],
    [
      { KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' },
      'scram:9096',
    ],
    [{ KAFKA_SASL_MECHANISM: 'aws-iam', AWS_REGION: 'us-east-1' }, 'iam:9098'],
    [
      { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' },
      undefined,
    ],
  ])('%j -> %s', (env, expected) => {
    expect(brokerStringFor(kafkaConfigOf(env), strings)).toBe(expected);
  });
});
