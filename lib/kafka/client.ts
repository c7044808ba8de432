import './request-queue-fix.ts';
import type { KafkaClientConfig } from '@aws-sdk/client-kafka';
import { Kafka, type KafkaConfig as KafkaJsConfig, logLevel } from 'kafkajs';
import type { KafkaConfig } from '../config.ts';
import { saslOptionsOf } from './auth.ts';
import { discoverBrokers } from './discovery.ts';
import { unrefSocketFactory } from './sockets.ts';

export interface KafkaClientOptions {
  /** For tests: where the MSK API lives, credentials to sign with. */
  discovery?: KafkaClientConfig;
  /** For tests and instrumentation: how TCP sockets are made. */
  socketFactory?: KafkaJsConfig['socketFactory'];
}

/**
 * A kafkajs client with the profile's timeouts, retries and auth. Creating it opens nothing;
 * with MSK_CLUSTER_ARN the brokers are discovered on first connection, not at import time.
 */
export const createKafkaClient = (config: KafkaConfig, options: KafkaClientOptions = {}): Kafka =>
  new Kafka({
    clientId: config.clientId,
    brokers:
      config.mskClusterArn === undefined
        ? config.brokers
        : () => discoverBrokers(config, options.discovery),
    ssl: config.ssl,
    sasl: saslOptionsOf(config),
    connectionTimeout: config.connectionTimeoutMs,
    authenticationTimeout: config.connectionTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    retry: config.retry,
    logLevel: logLevel.WARN,
    socketFactory: options.socketFactory ?? unrefSocketFactory,
  });
