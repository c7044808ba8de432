import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Redis } from '@upstash/redis';
import { describe, expect, it } from 'vitest';
import { APPLY_ANALYTICS_BATCH, encodeBatch } from '../../lib/analytics/batch-script.ts';
import {
  declaredScripts,
  findScript,
  KEY_LOCKING_SHEBANG,
  type ScriptCall,
} from '../../lib/redis/scripts.ts';
import { Keyspace } from '../../local/embedded/redis-keyspace.ts';
import { embeddedRequester } from '../../local/embedded/redis-requester.ts';

/**
 * Upstash runs a script under the database's global lock unless its first line declares
 * `#!lua flags=allow-key-locking` (then only the keys in KEYS are locked). Every script of the
 * project declares it, or says why it cannot; and the embedded store, which runs the scripts'
 * JavaScript mirrors by their text or SHA1, still finds the flagged texts.
 */

const LIB = join(import.meta.dirname, '..', '..', 'lib');

/** The lib/ modules that declare scripts, found by their source (a new one cannot be missed). */
const modulesDeclaringScripts = async (): Promise<{ file: string; count: number }[]> => {
  const files = (await readdir(LIB, { recursive: true })).filter((file) => file.endsWith('.ts'));
  const found: { file: string; count: number }[] = [];
  for (const file of files) {
    const source = await readFile(join(LIB, file), 'utf8');
    const count = source.match(/\bdefineScript\(/g)?.length ?? 0;
    // scripts.ts holds the definition itself, not a script.
    if (count > 0 && !file.endsWith(join('redis', 'scripts.ts'))) found.push({ file, count });
  }
  return found;
};

/** The SHA1 @upstash/redis computes for `Script` / `createScript` (hex of the UTF-8 bytes). */
const clientSha1 = (text: string): string =>
  createHash('sha1').update(new TextEncoder().encode(text)).digest('hex');

describe('the project’s Lua scripts and Upstash’s script lock', () => {
  it('each declares allow-key-locking on its very first line, or says why it needs the global lock', async () => {
    const modules = await modulesDeclaringScripts();
    for (const { file } of modules) await import(join(LIB, file));
    const scripts = declaredScripts();

    expect(modules.map(({ file }) => relative(LIB, join(LIB, file))).sort()).toEqual([
      join('analytics', 'batch-script.ts'),
      join('analytics', 'dedup.ts'),
      join('fallback', 'drain.ts'),
      join('fallback', 'messages.ts'),
      join('orders', 'batch-scripts.ts'),
      join('orders', 'create-order.ts'),
    ]);
    expect(scripts).toHaveLength(modules.reduce((sum, { count }) => sum + count, 0));
    for (const script of scripts) {
      const declaresKeyLocking = script.lua.startsWith(`${KEY_LOCKING_SHEBANG}\n`);
      expect(
        declaresKeyLocking || (script.globalLockReason ?? '').length > 0,
        `${script.name}: first line is ${JSON.stringify(script.lua.split('\n')[0])}`,
      ).toBe(true);
    }
  });

  it('are found again by the embedded store by their flagged text and by the SHA1 the client computes', async () => {
    await import('../../lib/fallback/messages.ts');

    for (const script of declaredScripts()) {
      expect(findScript(script.lua)).toBe(script);
      expect(findScript(clientSha1(script.lua))).toBe(script);
    }
  });

  it('run on the embedded store through @upstash/redis’s Script (EVALSHA by the client’s SHA1, then EVAL)', async () => {
    const redis = new Redis(embeddedRequester(new Keyspace()));
    const { keys, args } = encodeBatch(
      [
        {
          appliedKey: 'analytics:applied:c:t:0',
          firstOffset: 0,
          lastOffset: 4,
          firstEventOffset: 0,
          firstEventTimestamp: 1_000,
          newestTimestamp: 1_004,
          plain: [],
          increments: {
            counters: new Map([['analytics:daily:2026-01-01:total_events', 5]]),
            sets: new Map([['analytics:daily:2026-01-01:active_users', new Set(['u1', 'u2'])]]),
          },
          toCheck: [],
        },
      ],
      { data: 60, applied: 60, hold: 60, recent: 60 },
      { current: 'analytics:recent:2026-01-01T00:00', window: [] },
    );
    const script = redis.createScript<Array<string | number>>(APPLY_ANALYTICS_BATCH.lua);

    const byShaFirst = await script.exec(keys, args);
    const byText = await script.eval(keys, args);

    expect(byShaFirst).toEqual(['done', 0, 1, -1]);
    expect(byText).toEqual(['done', 0, 0, 4]);
    expect(await redis.get('analytics:daily:2026-01-01:total_events')).toBe(5);
  });

  it("run the caller's mirror: a function bundle finds its scripts in its own copy of scripts.ts, which the store's copy never saw", async () => {
    // Under serverless offline the embedded store is one module copy and each function bundle
    // another: the script a bundle declares is known to the bundle's lookup only.
    const lua = `${KEY_LOCKING_SHEBANG}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`;
    const bundlesOwn = {
      name: 'bundle-only',
      lua,
      emulate: (call: ScriptCall, keys: string[], args: string[]) =>
        call('INCRBY', keys[0] ?? '', args[0] ?? ''),
    };
    const keyspace = new Keyspace();
    const withTheStoresLookup = new Redis(embeddedRequester(keyspace));
    const withTheCallersLookup = new Redis(
      embeddedRequester(keyspace, (luaOrSha) =>
        luaOrSha === lua || luaOrSha === clientSha1(lua) ? bundlesOwn : undefined,
      ),
    );

    await expect(withTheStoresLookup.eval(lua, ['counter'], [2])).rejects.toThrow(
      /runs only scripts declared with defineScript/,
    );
    expect(await withTheCallersLookup.eval(lua, ['counter'], [2])).toBe(2);
    expect(await withTheCallersLookup.get('counter')).toBe(2);
  });
});
