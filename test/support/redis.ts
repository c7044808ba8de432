import { randomUUID } from 'node:crypto';
import { Redis, type Requester } from '@upstash/redis';
import type { RedisConfig } from '../../lib/config.ts';
import { createRedisServiceFor, createRedisServiceOver } from '../../lib/redis/client.ts';
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

/** One HTTP request to the gateway: its path (`pipeline`, or empty for one command) and commands. */
export interface SentRequest {
  path: string;
  commands: unknown[][];
}

/**
 * A Redis service as the functions build it (its clients, parsing and unparsed, over one
 * requester), sending over HTTP to the stack's gateway and recording every request it sends:
 * to count the requests a piece of code makes against the real Redis.
 */
export const recordingRedisService = (
  stack: StackEndpoints,
): { redis: RedisService; requests: SentRequest[] } => {
  const http = (
    new Redis({ url: stack.upstashUrl, token: stack.upstashToken }) as unknown as {
      client: Requester;
    }
  ).client;
  const requests: SentRequest[] = [];
  const requester: Requester = {
    request: (request) => {
      const path = request.path?.join('/') ?? '';
      const commands = (path === '' ? [request.body] : request.body) as unknown[][];
      requests.push({ path, commands });
      return http.request(request);
    },
  };
  return { redis: createRedisServiceOver(requester), requests };
};

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
