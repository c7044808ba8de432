import './request-queue-fix.ts';
import type { KafkaClientConfig } from '@aws-sdk/client-kafka';
import { Kafka, type KafkaConfig as KafkaJsConfig, type logCreator, logLevel } from 'kafkajs';
import type { KafkaConfig } from '../config.ts';
import { logger } from '../log.ts';
import { saslOptionsOf } from './auth.ts';
import { discoverBrokers } from './discovery.ts';
import { unrefSocketFactory } from './sockets.ts';

const LEVEL_METHODS = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
} as const;

/**
 * kafkajs's own log entries as lines of the functions' JSON logger: kafkajs ERROR/WARN/INFO/DEBUG
 * to the same levels, the message as the message, kafkajs's details (namespace, broker, error,
 * retry counts) under `kafkajs`. kafkajs filters by its own level first: WARN
 * (`KAFKAJS_LOG_LEVEL` overrides it), then the logger by LOG_LEVEL.
 */
export const kafkaLogCreator: logCreator =
  () =>
  ({ namespace, level, log }) => {
    const { message, timestamp: _timestamp, logger: _kafkajs, stack: _stack, ...details } = log;
    const method = LEVEL_METHODS[level as keyof typeof LEVEL_METHODS];
    if (method === undefined) return;
    logger[method]({ message: String(message), kafkajs: { namespace, ...details } });
  };

export interface KafkaClientOptions {
  /** For tests: where the MSK API lives, credentials to sign with. */
  discovery?: KafkaClientConfig;
  /** For tests and instrumentation: how TCP sockets are made. */
  socketFactory?: KafkaJsConfig['socketFactory'];
}

/**
 * The options kafkajs gets for `config`: the profile's timeouts, retries and auth. kafkajs
 * spells its retry options `initialRetryTime`/`retries`; the object is built here as a literal
 * of kafkajs's own type, so a misspelt option is a compile error instead of a silent default.
 */
export const kafkaJsConfig = (
  config: KafkaConfig,
  options: KafkaClientOptions = {},
): KafkaJsConfig => ({
  clientId: config.clientId,
  brokers:
    config.kind === 'brokers' ? config.brokers : () => discoverBrokers(config, options.discovery),
  ssl: config.ssl,
  sasl: saslOptionsOf(config),
  connectionTimeout: config.connectionTimeoutMs,
  authenticationTimeout: config.connectionTimeoutMs,
  requestTimeout: config.requestTimeoutMs,
  retry: { initialRetryTime: config.retry.initialRetryTimeMs, retries: config.retry.retries },
  logLevel: logLevel.WARN,
  logCreator: kafkaLogCreator,
  socketFactory: options.socketFactory ?? unrefSocketFactory,
});

/**
 * A kafkajs client with the profile's timeouts, retries and auth. Creating it opens nothing;
 * with MSK_CLUSTER_ARN the brokers are discovered on first connection, not at import time.
 */
export const createKafkaClient = (config: KafkaConfig, options: KafkaClientOptions = {}): Kafka =>
  new Kafka(kafkaJsConfig(config, options));
