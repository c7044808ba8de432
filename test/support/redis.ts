import { randomUUID } from 'node:crypto';
import { Redis } from '@upstash/redis';
import type { RedisConfig } from '../../lib/config.ts';
import { createRedisServiceFor } from '../../lib/redis/client.ts';
import type { RedisService } from '../../lib/redis/service.ts';
import type { StackEndpoints } from '../../local/stack.ts';

/** A port nothing listens on: connecting to it is refused at once. */
export const CLOSED_URL = 'http://127.0.0.1:1';

export const redisConfig = (
  stack: StackEndpoints,
  overrides: Partial<Omit<RedisConfig, 'kind'>> = {},
): RedisConfig => ({
  kind: 'upstash',
  url: stack.upstashUrl,
  token: stack.upstashToken,
  requestTimeoutMs: 1_000,
  retries: 1,
  ...overrides,
});

export const redisServiceFor = (
  stack: StackEndpoints,
  overrides: Partial<Omit<RedisConfig, 'kind'>> = {},
): RedisService => createRedisServiceFor(redisConfig(stack, overrides));

/** A plain client on the real Redis, for preparing and checking what a test expects. */
export const inspector = (stack: StackEndpoints): Redis =>
  new Redis({ url: stack.upstashUrl, token: stack.upstashToken, enableAutoPipelining: false });

/**
 * Key names unique to one test file; `cleanup` deletes every key made with them
 * (redis-js's keygen pattern, so test files can run side by side on one Redis).
 */
export const keygen = (redis: Redis) => {
  const prefix = `test:${randomUUID().slice(0, 8)}`;
  const made = new Set<string>();
  return {
    key: (name: string) => {
      const key = `${prefix}:${name}`;
      made.add(key);
      return key;
    },
    /** Registers a key whose name the code under test chose. */
    track: (key: string) => {
      made.add(key);
      return key;
    },
    cleanup: async () => {
      if (made.size > 0) await redis.del(...made);
    },
  };
};
