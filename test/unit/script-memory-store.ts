import type { ScriptCall } from '../../lib/redis/scripts.ts';
import { runCommand } from '../../local/embedded/redis-commands.ts';
import { Keyspace, type RedisValue } from '../../local/embedded/redis-keyspace.ts';

/**
 * The embedded Redis (the store `npm start` uses on a machine without Redis) on a frozen
 * clock, for running a script's JavaScript mirror (`emulate`) exactly as embedded mode runs
 * it. `data` and `ttl` read what is stored: values by type, TTLs in whole seconds.
 */
export const memoryRedis = () => {
  const keyspace = new Keyspace(() => 0);
  const call: ScriptCall = (command, ...args) => runCommand(keyspace, [command, ...args]);
  const data = {
    get: (key: string): RedisValue | undefined => {
      const entry = keyspace.lookup(key);
      return entry === undefined
        ? undefined
        : ({ type: entry.type, value: entry.value } as RedisValue);
    },
  };
  const ttl = {
    get: (key: string): number | undefined => {
      const expiresAt = keyspace.expiryOf(key);
      return expiresAt === undefined || expiresAt === Number.POSITIVE_INFINITY
        ? undefined
        : expiresAt / 1000;
    },
  };
  return { call, data, ttl };
};
