import type { Kafka } from 'kafkajs';
import { type Config, kafkaServers, loadConfig } from './config.ts';
import { embeddedParts } from './embedded-parts.ts';
import { createKafkaClient } from './kafka/client.ts';
import { createEmbeddedKafkaService } from './kafka/embedded-service.ts';
import { createKafkaService, type KafkaService } from './kafka/producer.ts';
import { createStateServices, type StateServices } from './state-services.ts';

/**
 * What the domain code needs, passed in so the same code runs in Lambda, the bridge and tests.
 * Functions that never touch Kafka take the smaller `StateServices` (state-services.ts).
 */
export interface Services extends StateServices {
  /** The kafkajs client, for admin requests (health); undefined when Kafka is not configured. */
  kafkaClient: Kafka | undefined;
  kafka: KafkaService | undefined;
}

/** The Kafka service `config` asks for: kafkajs to the brokers, the embedded log, or none. */
const kafkaOf = (config: Config, kafkaClient: Kafka | undefined): KafkaService | undefined => {
  const servers = kafkaServers(config.kafka);
  if (kafkaClient && servers) {
    return createKafkaService(kafkaClient, {
      idempotent: true,
      allowAutoTopicCreation: servers.allowAutoTopicCreation,
      retry: servers.retry,
    });
  }
  if (config.kafka.kind === 'embedded')
    return createEmbeddedKafkaService(embeddedParts().kafkaLog());
  return undefined;
};

/** The Kafka service `config` asks for, with a client of its own; undefined when Kafka is off. */
export const createKafkaServiceFor = (config: Config): KafkaService | undefined => {
  const servers = kafkaServers(config.kafka);
  return kafkaOf(config, servers ? createKafkaClient(servers) : undefined);
};

/** Builds the services for `config`; opens no connection until one is used. */
export const createServices = (config: Config): Services => {
  const servers = kafkaServers(config.kafka);
  const kafkaClient = servers ? createKafkaClient(servers) : undefined;
  return { ...createStateServices(config), kafkaClient, kafka: kafkaOf(config, kafkaClient) };
};

let services: Services | undefined;

/**
 * The services of this Lambda container, built on first use and kept at module scope so
 * later invocations reuse them (one producer, one HTTP keep-alive pool).
 * @throws ConfigError when the environment is invalid.
 */
export const getServices = (): Services => {
  services ??= createServices(loadConfig());
  return services;
};

/** Closes the container's connections (tests, local shutdown); the next use rebuilds. */
export const closeServices = async (): Promise<void> => {
  const current = services;
  services = undefined;
  await current?.kafka?.disconnect();
};
