import { Redis } from '@upstash/redis';
import type { Kafka } from 'kafkajs';
import { type Config, loadConfig } from './config.ts';
import { createEmbeddedKafkaService } from './embedded/kafka-service.ts';
import { embeddedRequester } from './embedded/redis-requester.ts';
import { embeddedRuntime } from './embedded/runtime.ts';
import { createKafkaClient } from './kafka/client.ts';
import { createKafkaService, type KafkaService } from './kafka/producer.ts';
import { createRedisClient } from './redis/client.ts';
import { MemoryStore } from './redis/memory-store.ts';
import { createRedisService, type RedisService } from './redis/service.ts';

/** What the domain code needs, passed in so the same code runs in Lambda, the bridge and tests. */
export interface Services {
  config: Config;
  /** The kafkajs client, for admin requests (health); undefined when Kafka is not configured. */
  kafkaClient: Kafka | undefined;
  kafka: KafkaService | undefined;
  redis: RedisService | undefined;
  /** The cache's fallback while Redis is unreachable; lives as long as the container. */
  memory: MemoryStore;
}

/** Builds the services for `config`; opens no connection until one is used. */
export const createServices = (config: Config): Services => {
  const kafkaClient = config.kafka ? createKafkaClient(config.kafka) : undefined;
  const embedded =
    config.embedded.kafka || config.embedded.redis ? embeddedRuntime(config.embedded) : undefined;
  return {
    config,
    kafkaClient,
    kafka:
      kafkaClient && config.kafka
        ? createKafkaService(kafkaClient, {
            idempotent: true,
            allowAutoTopicCreation: config.kafka.allowAutoTopicCreation,
            retries: config.kafka.retry.retries,
          })
        : embedded && config.embedded.kafka
          ? createEmbeddedKafkaService(embedded.kafka)
          : undefined,
    redis: config.redis
      ? createRedisService(createRedisClient(config.redis))
      : embedded && config.embedded.redis
        ? createRedisService(new Redis(embeddedRequester(embedded.keyspace)))
        : undefined,
    memory: new MemoryStore(),
  };
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
