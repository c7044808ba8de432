import { randomUUID } from 'node:crypto';
import { Redis } from '@upstash/redis';
import fc from 'fast-check';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { defineScript, runScript } from '../../lib/redis/scripts.ts';
import { Keyspace } from '../../local/embedded/redis-keyspace.ts';
import { embeddedRequester } from '../../local/embedded/redis-requester.ts';
import { inspector } from '../support/redis.ts';

/**
 * The embedded store is proved against the real thing: the same command sequences go to real
 * Redis (through the Upstash-compatible gateway) and to the embedded store, through the same
 * `@upstash/redis` client, and every reply and every error must agree.
 */

const real = inspector(inject('stack'));
const prefix = `embedded-diff:${randomUUID().slice(0, 8)}`;
const used = new Set<string>();

afterAll(async () => {
  if (used.size > 0) await real.del(...used);
});

type Op = (redis: Redis, key: (name: string) => string) => Promise<unknown>;

const names = fc.constantFrom('a', 'b');
const members = fc.constantFrom('x', 'y', 'z', '1', '{"n":1}');
const values = fc.oneof(
  fc.constantFrom('plain', '', '42', '-7', 'with space', 'ünïcode'),
  fc.integer({ min: -1000, max: 1000 }),
  fc.record({ id: fc.integer({ min: 0, max: 9 }), tag: fc.constantFrom('p', 'q') }),
);

const op: fc.Arbitrary<[string, Op]> = fc.oneof(
  fc.tuple(names, values).map(([k, v]): [string, Op] => [`set ${k}`, (r, key) => r.set(key(k), v)]),
  fc
    .tuple(names, values, fc.integer({ min: 1, max: 600 }))
    .map(([k, v, ex]): [string, Op] => [`set ${k} ex`, (r, key) => r.set(key(k), v, { ex })]),
  fc
    .tuple(names, values)
    .map(([k, v]): [string, Op] => [`set ${k} nx`, (r, key) => r.set(key(k), v, { nx: true })]),
  names.map((k): [string, Op] => [`get ${k}`, (r, key) => r.get(key(k))]),
  names.map((k): [string, Op] => [`del ${k}`, (r, key) => r.del(key(k))]),
  names.map((k): [string, Op] => [`exists ${k}`, (r, key) => r.exists(key(k))]),
  names.map((k): [string, Op] => [`type ${k}`, (r, key) => r.type(key(k))]),
  fc
    .tuple(names, fc.integer({ min: -5, max: 100 }))
    .map(([k, n]): [string, Op] => [`incrby ${k}`, (r, key) => r.incrby(key(k), n)]),
  names.map((k): [string, Op] => [`incr ${k}`, (r, key) => r.incr(key(k))]),
  fc
    .tuple(names, fc.array(members, { minLength: 1, maxLength: 3 }))
    .map(([k, m]): [string, Op] => [
      `sadd ${k}`,
      (r, key) => r.sadd(key(k), m[0] as string, ...m.slice(1)),
    ]),
  names.map((k): [string, Op] => [`scard ${k}`, (r, key) => r.scard(key(k))]),
  names.map((k): [string, Op] => [
    `smembers ${k}`,
    async (r, key) => (await r.smembers(key(k))).map(String).sort(),
  ]),
  fc
    .tuple(names, members)
    .map(([k, m]): [string, Op] => [`sismember ${k}`, (r, key) => r.sismember(key(k), m)]),
  fc
    .tuple(names, fc.array(values, { minLength: 1, maxLength: 3 }))
    .map(([k, v]): [string, Op] => [`lpush ${k}`, (r, key) => r.lpush(key(k), ...v)]),
  fc
    .tuple(names, fc.array(values, { minLength: 1, maxLength: 3 }))
    .map(([k, v]): [string, Op] => [`rpush ${k}`, (r, key) => r.rpush(key(k), ...v)]),
  fc
    .tuple(names, fc.integer({ min: -4, max: 4 }), fc.integer({ min: -4, max: 4 }))
    .map(([k, a, b]): [string, Op] => [
      `lrange ${k} ${a} ${b}`,
      (r, key) => r.lrange(key(k), a, b),
    ]),
  fc
    .tuple(names, fc.integer({ min: -4, max: 4 }), fc.integer({ min: -4, max: 4 }))
    .map(([k, a, b]): [string, Op] => [`ltrim ${k} ${a} ${b}`, (r, key) => r.ltrim(key(k), a, b)]),
  names.map((k): [string, Op] => [`llen ${k}`, (r, key) => r.llen(key(k))]),
  names.map((k): [string, Op] => [`lpop ${k}`, (r, key) => r.lpop(key(k))]),
  fc
    .tuple(names, fc.constantFrom('f', 'g'), fc.integer({ min: -3, max: 3 }))
    .map(([k, f, n]): [string, Op] => [`hincrby ${k}`, (r, key) => r.hincrby(key(k), f, n)]),
  fc
    .tuple(names, fc.constantFrom('f', 'g'))
    .map(([k, f]): [string, Op] => [`hget ${k}`, (r, key) => r.hget(key(k), f)]),
  fc
    .tuple(names, fc.integer({ min: 1, max: 600 }))
    .map(([k, s]): [string, Op] => [`expire ${k}`, (r, key) => r.expire(key(k), s)]),
  names.map((k): [string, Op] => [
    `ttl ${k}`,
    // Seconds tick between the two stores; what must agree is absent / forever / expiring.
    async (r, key) => Math.sign(await r.ttl(key(k))),
  ]),
  fc.constant<[string, Op]>(['mget', (r, key) => r.mget(key('a'), key('b'), key('c'))]),
  fc
    .tuple(names, values, names)
    .map(([k, v, other]): [string, Op] => [
      `pipeline set ${k}, incr ${other}, get ${k}`,
      (r, key) =>
        r.pipeline().set(key(k), v).incr(key(other)).get(key(k)).exec({ keepErrors: true }),
    ]),
  fc
    .tuple(names, members, names)
    .map(([k, m, other]): [string, Op] => [
      `multi sadd ${k}, scard ${k}, llen ${other}`,
      (r, key) =>
        r.multi().sadd(key(k), m).scard(key(k)).llen(key(other)).exec({ keepErrors: true }),
    ]),
);

/** The reply, or the fact of an error (messages differ in wording between servers). */
const outcome = async (run: () => Promise<unknown>) => {
  try {
    const result = await run();
    return {
      ok: JSON.parse(
        JSON.stringify(result, (_, value) =>
          value && typeof value === 'object' && 'error' in value && value.error
            ? { error: true }
            : value,
        ) ?? 'null',
      ) as unknown,
    };
  } catch {
    return { error: true };
  }
};

describe('the embedded Redis store', () => {
  it('answers every command sequence exactly as real Redis does', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        run += 1;
        const key = (name: string) => {
          const full = `${prefix}:${run}:${name}`;
          used.add(full);
          return full;
        };
        const embedded = new Redis(embeddedRequester(new Keyspace()));
        for (const [name, act] of ops) {
          const expected = await outcome(() => act(real, key));
          const actual = await outcome(() => act(embedded, key));
          expect({ op: name, ...actual }).toEqual({ op: name, ...expected });
        }
      }),
      { numRuns: 150 },
    );
  });

  it('scans by pattern and returns every matching key once', async () => {
    const embedded = new Redis(embeddedRequester(new Keyspace()));
    const scanPrefix = `${prefix}:scan`;
    const wanted = Array.from({ length: 25 }, (_, i) => `${scanPrefix}:kafka_fallback:t${i}`);
    for (const key of wanted) await embedded.lpush(key, 'x');
    await embedded.set(`${scanPrefix}:other`, 1);

    const found: string[] = [];
    let cursor: string | number = '0';
    do {
      const [next, keys]: [string | number, string[]] = await embedded.scan(cursor, {
        match: `${scanPrefix}:kafka_fallback:*`,
        count: 7,
      });
      found.push(...keys);
      cursor = next;
    } while (String(cursor) !== '0');

    expect(found.sort()).toEqual([...wanted].sort());
  });

  it('runs a declared script through its JavaScript mirror with the Lua version’s results', async () => {
    const swapIfEqual = defineScript({
      name: 'test: swap if equal',
      lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]); return 1 else return 0 end`,
      emulate: (call, [target = ''], [expected = '', next = '']) => {
        if (call('GET', target) !== expected) return 0;
        call('SET', target, next);
        return 1;
      },
    });
    const embedded = new Redis(embeddedRequester(new Keyspace()));
    const key = `${prefix}:script`;
    used.add(key);
    for (const redis of [real, embedded]) {
      await redis.set(key, 'one');
      expect(await runScript(redis, swapIfEqual, [key], ['two', 'three'])).toBe(0);
      expect(await runScript(redis, swapIfEqual, [key], ['one', 'two'])).toBe(1);
      expect(await redis.get(key)).toBe('two');
    }
  });

  it('refuses a script that was not declared, as Redis refuses an unknown command', async () => {
    const embedded = new Redis(embeddedRequester(new Keyspace()));
    await expect(embedded.eval('return 1', [], [])).rejects.toThrow(/defineScript/);
  });
});
