import { createHash } from 'node:crypto';
import type { Redis } from '@upstash/redis';

/**
 * Lua scripts the project runs through EVAL, each beside a JavaScript mirror of the same
 * steps. Real Redis (Upstash, the local gateway) runs the Lua; the embedded store, which has
 * no Lua, runs the mirror. A test runs both on the same inputs and compares.
 *
 * Upstash runs a script under the database's global lock, stalling every other request, unless
 * its very first line is `#!lua flags=allow-key-locking` (KEY_LOCKING_SHEBANG): then it locks
 * only the keys passed in KEYS, and refuses any other key the script touches. So every script
 * here starts with that line and passes every key it touches in KEYS, or says in
 * `globalLockReason` why it cannot (a unit test holds each script to one or the other; the local
 * gateway applies Upstash's key rule, so the integration tests catch a key missing from KEYS).
 */

/** One Redis command from inside a script, as `redis.call` in Lua (a missing value is null). */
export type ScriptCall = (command: string, ...args: Array<string | number>) => unknown;

/** First line of a script Upstash may run under per-key locks instead of the global lock. */
export const KEY_LOCKING_SHEBANG = '#!lua flags=allow-key-locking';

export interface RedisScript<TResult> {
  /** What the script is for, in logs and errors. */
  name: string;
  /** Starts with KEY_LOCKING_SHEBANG (nothing before it, not even a line break) unless `globalLockReason` says why not. */
  lua: string;
  /** Why this script needs Upstash's global lock (it touches keys it cannot name in KEYS). */
  globalLockReason?: string;
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

/** Every script declared so far (tests check each one's locking). */
export const declaredScripts = (): RedisScript<unknown>[] => [...new Set(bySha.values())];

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
