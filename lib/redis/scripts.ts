import { createHash } from 'node:crypto';
import type { Redis } from '@upstash/redis';

/**
 * Lua scripts the project runs through EVAL, each beside a JavaScript mirror of the same
 * steps. Real Redis (Upstash, the local gateway) runs the Lua; the embedded store, which has
 * no Lua, runs the mirror. A test runs both on the same inputs and compares.
 */

/** One Redis command from inside a script, as `redis.call` in Lua (a missing value is null). */
export type ScriptCall = (command: string, ...args: Array<string | number>) => unknown;

export interface RedisScript<TResult> {
  /** What the script is for, in logs and errors. */
  name: string;
  lua: string;
  /** The Lua's steps in JavaScript, over `call`; must give the same result and effects. */
  emulate: (call: ScriptCall, keys: string[], args: string[]) => TResult;
}

const bySha = new Map<string, RedisScript<unknown>>();

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

/** Declares a script; the embedded store finds it again by its Lua text or SHA1. */
export const defineScript = <TResult>(script: RedisScript<TResult>): RedisScript<TResult> => {
  bySha.set(sha1(script.lua), script as RedisScript<unknown>);
  return script;
};

/** The script declared with this Lua text or SHA1 (embedded store: EVAL / EVALSHA). */
export const findScript = (luaOrSha: string): RedisScript<unknown> | undefined =>
  bySha.get(luaOrSha) ?? bySha.get(sha1(luaOrSha));

/** Runs `script` on the server behind `client` (one EVAL round trip). */
export const runScript = <TResult>(
  client: Redis,
  script: RedisScript<TResult>,
  keys: string[],
  args: Array<string | number>,
): Promise<TResult> => client.eval<Array<string | number>, TResult>(script.lua, keys, args);
