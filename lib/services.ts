import type { Redis } from '@upstash/redis';
import type { Kafka } from 'kafkajs';
import { type Config, loadConfig } from './config.ts';
import { createKafkaClient } from './kafka/client.ts';
import { createRedisClient } from './redis/client.ts';

export interface Services {
  config: Config;
  redis: Redis | undefined;
  kafka: Kafka | undefined;
}

let services: Services | undefined;

/**
 * The services of this Lambda container, built on first use and kept at module scope so
 * later invocations reuse them (no new clients, no new connections per request).
 * @throws ConfigError when the environment is invalid.
 */
export const getServices = (): Services => {
  if (services) return services;
  const config = loadConfig();
  services = {
    config,
    redis: config.redis ? createRedisClient(config.redis) : undefined,
    kafka: config.kafka ? createKafkaClient(config.kafka) : undefined,
  };
  return services;
};
