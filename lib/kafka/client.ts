import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../config.ts';

const saslOptionsOf = (sasl: KafkaConfig['sasl']): SASLOptions | undefined => {
  if (sasl === undefined) return undefined;
  if (sasl.mechanism === 'aws-iam') {
    throw new Error('KAFKA_SASL_MECHANISM=aws-iam is not supported by this build yet');
  }
  return sasl;
};

/**
 * A kafkajs client for the given brokers with the profile's timeouts, retries and auth.
 * Creating it opens nothing; connections are made by the producer or admin built from it.
 */
export const createKafkaClient = (config: KafkaConfig, brokers: string[] = config.brokers): Kafka =>
  new Kafka({
    clientId: config.clientId,
    brokers,
    ssl: config.ssl,
    sasl: saslOptionsOf(config.sasl),
    connectionTimeout: config.connectionTimeoutMs,
    retry: config.retry,
    logLevel: logLevel.WARN,
  });
