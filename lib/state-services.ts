import { type Config, loadConfig } from './config.ts';
import { embeddedParts } from './embedded-parts.ts';
import { createRedisServiceFor, createRedisServiceOver } from './redis/client.ts';
import { MemoryStore } from './redis/memory-store.ts';
import { findScript } from './redis/scripts.ts';
import type { RedisService } from './redis/service.ts';

/**
 * What the functions that only read and write state need: no Kafka, so kafkajs stays out of
 * their bundles (about 270 KB of each, and its load time on every cold start).
 */
export interface StateServices {
  config: Config;
  redis: RedisService | undefined;
  /** The cache's fallback while Redis is unreachable; lives as long as the container. */
  memory: MemoryStore;
}

/** The Redis service `config` asks for: Upstash over HTTP, the embedded store, or none. */
const redisServiceOf = (config: Config): RedisService | undefined => {
  switch (config.redis.kind) {
    case 'upstash':
      return createRedisServiceFor(config.redis);
    case 'embedded':
      // In memory: the bundle's own scripts, so the store can run their JavaScript mirrors.
      return createRedisServiceOver(embeddedParts().redisRequester(findScript));
    case 'none':
      return undefined;
  }
};

/** Builds the state services for `config`; opens no connection until one is used. */
export const createStateServices = (config: Config): StateServices => ({
  config,
  redis: redisServiceOf(config),
  memory: new MemoryStore(),
});

let services: StateServices | undefined;

/**
 * The state services of this Lambda container, built on first use and reused by later
 * invocations (one HTTP keep-alive pool).
 * @throws ConfigError when the environment is invalid.
 */
export const getStateServices = (): StateServices => {
  services ??= createStateServices(loadConfig());
  return services;
};
