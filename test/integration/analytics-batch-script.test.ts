import { randomUUID } from 'node:crypto';
import { Redis } from '@upstash/redis';
import fc from 'fast-check';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  type AnalyticsSlice,
  APPLIED_OFFSET_TTL_SECONDS,
  appliedOffsetKey,
  applyAnalyticsBatch,
} from '../../lib/analytics/analytics.ts';
import {
  APPLY_ANALYTICS_BATCH,
  encodeBatch,
  type PartitionIncrements,
} from '../../lib/analytics/batch-script.ts';
import { dailyKeys, orderKeys } from '../../lib/keys.ts';
import {
  BEGIN_ORDERS,
  encodeBegin,
  encodeFinish,
  FINISH_ORDERS,
  type RunWrite,
} from '../../lib/orders/batch-scripts.ts';
import { redisServiceFor } from '../support/redis.ts';
import { memoryRedis } from '../unit/script-memory-store.ts';
import { uniqueDay } from './msk-events.ts';

// The analytics batch script, and the order batch scripts (at the end): its Lua on the real Redis (through the gateway, with
// @upstash/redis) and its JavaScript mirror (what the embedded store runs) give the same
// replies and leave the same keys; and applied through any Lambda-like sequence of
// deliveries, crashes and redeliveries, every event is counted exactly once.

const stack = inject('stack');
// Raw replies: no JSON parsing of strings, so the Lua's reply compares exactly with the mirror's.
const raw = new Redis({
  url: stack.upstashUrl,
  token: stack.upstashToken,
  automaticDeserialization: false,
  enableAutoPipelining: false,
});
const made = new Set<string>();
afterAll(async () => {
  const all = [...made];
  for (let i = 0; i < all.length; i += 500) await raw.del(...all.slice(i, i + 500));
});

// --- what the two sides leave behind ----------------------------------------------------------

interface KeyState {
  value: string | string[] | null;
  /** Seconds to live, -1 for none, null for a missing key. */
  ttl: number | null;
}

const redisState = async (keys: string[]): Promise<Record<string, KeyState>> => {
  const pipeline = raw.pipeline();
  for (const key of keys) pipeline.type(key).ttl(key);
  const meta = await pipeline.exec<Array<string | number>>();
  const reads = raw.pipeline();
  keys.forEach((key, i) => {
    const type = meta[2 * i];
    if (type === 'set') reads.smembers(key);
    else reads.get(key);
  });
  const values = await reads.exec<Array<string | string[] | null>>();
  return Object.fromEntries(
    keys.map((key, i) => {
      const value = values[i] ?? null;
      const ttl = Number(meta[2 * i + 1]);
      return [
        key,
        {
          value: Array.isArray(value) ? [...value].sort() : value,
          ttl: ttl === -2 ? null : ttl,
        },
      ];
    }),
  );
};

const memoryState = (
  store: ReturnType<typeof memoryRedis>,
  keys: string[],
): Record<string, KeyState> =>
  Object.fromEntries(
    keys.map((key) => {
      const stored = store.data.get(key);
      const value =
        stored === undefined
          ? null
          : stored.type === 'string'
            ? stored.value
            : [...stored.value].map(String).sort();
      return [key, { value, ttl: stored === undefined ? null : (store.ttl.get(key) ?? -1) }];
    }),
  );

/** TTLs agree when Redis's countdown is within a few seconds of what the mirror set. */
const sameState = (real: Record<string, KeyState>, mirror: Record<string, KeyState>) => {
  for (const [key, state] of Object.entries(real)) {
    const other = mirror[key];
    expect(state.value, key).toEqual(other?.value);
    if (state.ttl === null || state.ttl === -1 || other?.ttl === null || other?.ttl === -1)
      expect(state.ttl, key).toBe(other?.ttl);
    else expect(Math.abs(state.ttl - (other?.ttl ?? 0)), key).toBeLessThanOrEqual(3);
  }
};

// --- Lua and mirror side by side --------------------------------------------------------------

const ttls = { data: 7_776_000, applied: APPLIED_OFFSET_TTL_SECONDS, hold: 600, recent: 300 };
const T0 = 1_764_230_400_000;

const incrementsArbitrary = fc.record({
  counters: fc.uniqueArray(
    fc.tuple(fc.constantFrom('c1', 'c2', 'c3', 'c4'), fc.integer({ min: 1, max: 10_000 })),
    { selector: ([key]) => key, maxLength: 4 },
  ),
  sets: fc.uniqueArray(
    fc.tuple(
      fc.constantFrom('s1', 's2'),
      fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'u:1', 'user 2', '42'), { minLength: 1 }),
    ),
    { selector: ([key]) => key, maxLength: 2 },
  ),
});

const eventIdArbitrary = fc.constantFrom('e1', 'e2', 'e3', 'e4', 'e5', 'e6');

/**
 * A batch of 1-3 partitions over a small pool of keys and event ids; earlier applied offsets
 * (with or without a timestamp), holds and recent traces; and now and then a key of the wrong
 * type, so the error path (nothing written) is compared too.
 */
const batchArbitrary = fc.record({
  partitions: fc.array(
    fc.record({
      appliedBefore: fc.option(
        fc.record({
          offset: fc.integer({ min: 0, max: 60 }),
          timestamp: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
        }),
        { nil: undefined },
      ),
      first: fc.integer({ min: 0, max: 50 }),
      length: fc.integer({ min: 0, max: 30 }),
      firstTimestamp: fc.integer({ min: 0, max: 120 }),
      plain: fc.uniqueArray(eventIdArbitrary, { maxLength: 3 }),
      increments: incrementsArbitrary,
      toCheck: fc.uniqueArray(fc.tuple(eventIdArbitrary, incrementsArbitrary), {
        selector: ([id]) => id,
        maxLength: 2,
      }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  existing: fc.record({
    c1: fc.option(fc.integer({ min: 0, max: 99 }), { nil: undefined }),
    holds: fc.array(fc.tuple(eventIdArbitrary, fc.constantFrom('counted', 'held')), {
      maxLength: 2,
    }),
    traced: fc.uniqueArray(eventIdArbitrary, { maxLength: 2 }),
    wrongType: fc.option(fc.constantFrom('c2', 's2', 'recent'), { nil: undefined, freq: 5 }),
  }),
});

const increments = (
  key: (name: string) => string,
  { counters, sets }: { counters: Array<[string, number]>; sets: Array<[string, string[]]> },
) => ({
  counters: new Map(counters.map(([name, amount]) => [key(name), amount])),
  sets: new Map(sets.map(([name, members]) => [key(name), new Set(members)])),
});

/** The reply, or the error message, of a call. */
/**
 * Writes the same starting state on both sides: a command on the mirror's store now, and on
 * Redis through `seed` (a pipeline the caller sends), each as a one-line script so a key the
 * command names travels in KEYS.
 */
const seedingBoth =
  (mirror: ReturnType<typeof memoryRedis>, seed: ReturnType<Redis['pipeline']>) =>
  (command: string, ...args: Array<string | number>) => {
    mirror.call(command, ...args);
    seed.eval(
      `return redis.call(ARGV[1], KEYS[1], unpack(ARGV, 2))`,
      [String(args[0])],
      [command, ...args.slice(1).map(String)],
    );
  };

const outcomeOf = async (call: () => unknown): Promise<unknown> => {
  try {
    return { reply: await call() };
  } catch (error) {
    // @upstash/redis appends the command to the server's message.
    const message = error instanceof Error ? error.message : String(error);
    return { error: message.replace(/, command was: .*$/s, '') };
  }
};

describe('the analytics batch script: Lua on Redis and its JavaScript mirror', () => {
  it('give the same reply or error and leave the same keys, values and TTLs (property)', async () => {
    await fc.assert(
      fc.asyncProperty(batchArbitrary, async ({ partitions, existing }) => {
        const prefix = `test:batch-script:${randomUUID().slice(0, 8)}`;
        const key = (name: string) => {
          const full = `${prefix}:${name}`;
          made.add(full);
          return full;
        };
        const hold = (id: string) => key(`hold:${id}`);
        const recent = { current: key('recent'), window: [key('recent'), key('recent-before')] };
        const parts: PartitionIncrements[] = partitions.map((partition, i) => ({
          appliedKey: key(`applied:${i}`),
          firstOffset: partition.first,
          lastOffset: partition.first + partition.length,
          firstEventOffset: partition.first,
          firstEventTimestamp: partition.firstTimestamp,
          newestTimestamp: partition.firstTimestamp + partition.length,
          plain: partition.plain.map((eventId) => ({ eventId, holdKey: hold(eventId) })),
          increments: increments(key, partition.increments),
          toCheck: partition.toCheck.map(([eventId, own]) => ({
            eventId,
            holdKey: hold(eventId),
            increments: increments(key, own),
          })),
        }));
        const allKeys = [
          ...parts.map(({ appliedKey }) => appliedKey),
          ...['c1', 'c2', 'c3', 'c4', 's1', 's2', 'recent', 'recent-before'].map(key),
          ...['e1', 'e2', 'e3', 'e4', 'e5', 'e6'].map(hold),
        ];
        // The same starting state on both sides.
        const mirror = memoryRedis();
        const seed = raw.pipeline();
        const both = seedingBoth(mirror, seed);
        partitions.forEach(({ appliedBefore }, i) => {
          if (appliedBefore === undefined) return;
          const stored =
            appliedBefore.timestamp === undefined
              ? String(appliedBefore.offset)
              : `${appliedBefore.offset}:${appliedBefore.timestamp}`;
          both('SET', parts[i]?.appliedKey ?? '', stored, 'EX', 600);
        });
        if (existing.c1 !== undefined) both('SET', key('c1'), String(existing.c1));
        for (const [id, state] of existing.holds) both('SET', hold(id), state, 'EX', 600);
        for (const id of existing.traced) both('SADD', key('recent-before'), id);
        if (existing.wrongType === 'c2') both('SADD', key('c2'), 'x');
        if (existing.wrongType === 's2') both('SET', key('s2'), 'x');
        if (existing.wrongType === 'recent') both('SET', key('recent'), 'x');
        if (seed.length() > 0) await seed.exec();
        const { keys, args } = encodeBatch(parts, ttls, recent);

        const lua = await outcomeOf(() => raw.eval(APPLY_ANALYTICS_BATCH.lua, keys, args));
        const js = await outcomeOf(() => APPLY_ANALYTICS_BATCH.emulate(mirror.call, keys, args));

        expect(lua).toEqual(js);
        sameState(await redisState(allKeys), memoryState(mirror, allKeys));
      }),
      { numRuns: 60 },
    );
  });

  it('add sets larger than one SADD may carry (chunks of 1000) the same way', async () => {
    const prefix = `test:batch-script:${randomUUID().slice(0, 8)}`;
    const setKey = `${prefix}:users`;
    const appliedKey = `${prefix}:applied`;
    const recentKey = `${prefix}:recent`;
    made.add(setKey).add(appliedKey).add(recentKey);
    const members = Array.from({ length: 2_500 }, (_, i) => `user-${i}`);
    const { keys, args } = encodeBatch(
      [
        {
          appliedKey,
          firstOffset: 0,
          lastOffset: 2_499,
          firstEventOffset: 0,
          firstEventTimestamp: T0,
          newestTimestamp: T0,
          plain: [],
          increments: { counters: new Map(), sets: new Map([[setKey, new Set(members)]]) },
          toCheck: [],
        },
      ],
      ttls,
      { current: recentKey, window: [] },
    );
    const mirror = memoryRedis();

    const luaReply = await raw.eval(APPLY_ANALYTICS_BATCH.lua, keys, args);
    const mirrorReply = APPLY_ANALYTICS_BATCH.emulate(mirror.call, keys, args);

    expect(luaReply).toEqual(['done', 0, 1, '-1']);
    expect(mirrorReply).toEqual(luaReply);
    expect(await raw.scard(setKey)).toBe(2_500);
    sameState(await redisState([setKey, appliedKey]), memoryState(mirror, [setKey, appliedKey]));
  });
});

// --- exactly once, whatever the deliveries ---------------------------------------------------

/**
 * What a Kafka mapping does to a consumer: each partition is delivered from its committed
 * offset, in order, in windows of any size; an invocation may die after its Redis step (the
 * commit does not move, the same records come again, maybe with more) or succeed (the commit
 * moves to the window's end).
 */
const deliveriesArbitrary = fc.record({
  sizes: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 3 }),
  steps: fc.array(
    fc.record({
      // One-record windows are the edge (a redelivery starting exactly at the applied offset).
      windows: fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 25 })), {
        minLength: 3,
        maxLength: 3,
      }),
      crashes: fc.boolean(),
    }),
    { minLength: 1, maxLength: 30 },
  ),
  /** Records that are marked copies of another record's event (same eventId, new offset). */
  copies: fc.array(fc.record({ at: fc.nat(), of: fc.nat() }), { maxLength: 15 }),
});

describe('applyAnalyticsBatch on the real Redis', () => {
  const redis = redisServiceFor(stack);

  it('counts every event exactly once through any sequence of crashes, redeliveries and copies (property)', async () => {
    await fc.assert(
      fc.asyncProperty(deliveriesArbitrary, async ({ sizes, steps, copies }) => {
        const topic = `test.exactly-once.${randomUUID().slice(0, 8)}`;
        const cluster = 'arn:aws:kafka:us-east-1:000000000000:cluster/narad-test/exactly-once';
        const date = uniqueDay();
        const day = dailyKeys(date);
        for (const k of [
          day.totalEvents,
          day.userActions,
          day.actionNames,
          day.activeUsers,
          day.action('view'),
        ])
          made.add(k);
        for (let partition = 0; partition < sizes.length; partition += 1)
          made.add(appliedOffsetKey(cluster, topic, partition));
        // Some records are copies of another's event, marked as the drain and the producer's
        // retry mark them; the copy may come before or after its original, in any partition.
        const positions = sizes.flatMap((size, p) =>
          Array.from({ length: size }, (_, o) => `${p}-${o}`),
        );
        const originalOf = new Map<string, string>();
        for (const { at, of } of copies) {
          const copy = positions[at % positions.length] as string;
          const original = positions[of % positions.length] as string;
          if (copy === original || originalOf.has(copy) || originalOf.has(original)) continue;
          if ([...originalOf.values()].includes(copy)) continue;
          originalOf.set(copy, original);
        }
        const userOf = (position: string) => `p${position}-u${Number(position.split('-')[1]) % 7}`;
        const eventAt = (partition: number, offset: number) => {
          const position = `${partition}-${offset}`;
          const original = originalOf.get(position) ?? position;
          return {
            offset,
            recordTimestamp: 0,
            possibleDuplicate: originalOf.has(position),
            event: {
              eventId: `${topic}-${original}`,
              type: 'USER_ACTION',
              userId: userOf(original),
              action: 'view',
              timestamp: `${date}T08:00:00.000Z`,
            },
          };
        };
        for (const position of positions) made.add(`analytics:event:${topic}-${position}`);
        const committed = sizes.map(() => 0);
        const deliverUntilDone = async (windows: number[], crashes: boolean) => {
          const slices: AnalyticsSlice[] = [];
          sizes.forEach((size, partition) => {
            const from = committed[partition] ?? 0;
            const to = Math.min(size, from + (windows[partition] ?? 1));
            if (from >= to) return;
            slices.push({
              cluster,
              topic,
              partition,
              firstOffset: from,
              lastOffset: to - 1,
              events: Array.from({ length: to - from }, (_, i) => eventAt(partition, from + i)),
            });
          });
          await applyAnalyticsBatch({ redis }, slices);
          if (!crashes)
            for (const slice of slices) committed[slice.partition] = slice.lastOffset + 1;
        };
        for (const { windows, crashes } of steps) await deliverUntilDone(windows, crashes);
        // Then the mapping gets through whatever is left.
        while (committed.some((offset, partition) => offset < (sizes[partition] ?? 0)))
          await deliverUntilDone([25, 25, 25], false);

        const originals = positions.filter((position) => !originalOf.has(position));
        const total = originals.length;
        const users = new Set(originals.map(userOf)).size;
        expect(Number(await raw.get(day.totalEvents))).toBe(total);
        expect(Number(await raw.get(day.action('view')))).toBe(total);
        expect(await raw.scard(day.activeUsers)).toBe(users);
      }),
      { numRuns: 25 },
    );
  });
});

// --- the order batch scripts: Lua and mirror side by side ---------------------------------------

/** What an order's keys hold before its batch: the ways an order can be left (or garbage). */
const PRIOR = {
  none: {},
  processing: { state: { status: 'processing' }, processing: { status: 'processing' } },
  completed: { state: { status: 'completed' }, result: { status: 'completed' } },
  resultOnly: { result: { status: 'completed' } },
  failed: { state: { status: 'failed', error: 'no' }, error: { error: 'no' } },
  deadLettered: {
    state: { status: 'failed', deadLettered: true },
    error: { error: 'timeout', deadLettered: true },
  },
  oldError: { error: { error: 'no' } },
  garbageState: { state: 'not json' },
  garbageError: { error: 'not json' },
  nullError: { error: null },
} as const;

const orderBatchArbitrary = fc.array(
  fc.record({
    prior: fc.constantFrom(...(Object.keys(PRIOR) as Array<keyof typeof PRIOR>)),
    attempts: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    outcome: fc.constantFrom('completed', 'failed', 'released'),
  }),
  { minLength: 1, maxLength: 4 },
);

describe('the order batch scripts: Lua on Redis and their JavaScript mirrors', () => {
  it('claim and finish a batch with the same replies, leaving the same keys, values and TTLs (property)', async () => {
    await fc.assert(
      fc.asyncProperty(orderBatchArbitrary, async (orders) => {
        const run = randomUUID().slice(0, 8);
        const all = orders.map((_, i) => orderKeys(`test-order-batch-${run}-${i}`));
        const allKeys = all.flatMap((k) => Object.values(k));
        for (const key of allKeys) made.add(key);
        const mirror = memoryRedis();
        const seed = raw.pipeline();
        const both = seedingBoth(mirror, seed);
        orders.forEach(({ prior, attempts }, i) => {
          const k = all[i] as (typeof all)[number];
          for (const [name, value] of Object.entries(PRIOR[prior])) {
            const text = typeof value === 'string' ? value : JSON.stringify(value);
            both('SET', k[name as keyof typeof k], text, 'EX', 900);
          }
          if (attempts !== undefined) both('SET', k.attempts, String(attempts), 'EX', 900);
        });
        if (seed.length() > 0) await seed.exec();
        const begin = encodeBegin(
          all.map((keys, i) => ({
            keys,
            processing: JSON.stringify({ status: 'processing', n: i }),
            state: JSON.stringify({ status: 'processing' }),
          })),
        );

        const luaClaims = await outcomeOf(() => raw.eval(BEGIN_ORDERS.lua, begin.keys, begin.args));
        const jsClaims = await outcomeOf(() =>
          BEGIN_ORDERS.emulate(mirror.call, begin.keys, begin.args.map(String)),
        );
        expect(luaClaims).toEqual(jsClaims);
        sameState(await redisState(allKeys), memoryState(mirror, allKeys));

        const replies = (jsClaims as { reply: number[] }).reply;
        const runs: RunWrite[] = [];
        const released = [];
        for (const [i, { outcome }] of orders.entries()) {
          const keys = all[i] as (typeof all)[number];
          if (replies[i] === 0) continue;
          if (outcome === 'released') released.push(keys);
          else
            runs.push({
              keys,
              target: outcome === 'completed' ? keys.result : keys.error,
              value: JSON.stringify({ status: outcome, attempts: replies[i] }),
              ttl: outcome === 'completed' ? 3600 : 86_400,
              state: JSON.stringify({ status: outcome }),
            });
        }
        const finish = encodeFinish(runs, released);

        const luaFinish = await outcomeOf(() =>
          raw.eval(FINISH_ORDERS.lua, finish.keys, finish.args),
        );
        const jsFinish = await outcomeOf(() =>
          FINISH_ORDERS.emulate(mirror.call, finish.keys, finish.args.map(String)),
        );
        expect(luaFinish).toEqual(jsFinish);
        sameState(await redisState(allKeys), memoryState(mirror, allKeys));
      }),
      { numRuns: 60 },
    );
  });
});
