import { describe, expect, it } from 'vitest';
import type { DailyIncrements } from '../../lib/analytics/aggregate.ts';
import {
  APPLY_ANALYTICS_BATCH,
  type BatchReply,
  decodeReply,
  encodeBatch,
  type PartitionIncrements,
} from '../../lib/analytics/batch-script.ts';
import { findScript } from '../../lib/redis/scripts.ts';
import { memoryRedis } from './script-memory-store.ts';

// The analytics batch script's decisions, run through its JavaScript mirror (what the embedded
// store runs). test/integration/analytics-batch-script.test.ts proves the Lua does the same.

const ttls = { data: 7_776_000, applied: 691_200, hold: 691_200, recent: 1_080 };
const recent = { current: 'recent:now', window: ['recent:next', 'recent:now', 'recent:before'] };
const T0 = 1_764_230_400_000;

const increments = (amount: number, user: string): DailyIncrements => ({
  counters: new Map([['total', amount]]),
  sets: new Map([['users', new Set([user])]]),
});

/** Partition `name`'s offsets first..last, one plain event per offset, timestamps T0 + offset. */
const part = (
  name: string,
  firstOffset: number,
  lastOffset: number,
  overrides: Partial<PartitionIncrements> = {},
): PartitionIncrements => {
  const ids = Array.from(
    { length: lastOffset - firstOffset + 1 },
    (_, i) => `${name}-${firstOffset + i}`,
  );
  return {
    appliedKey: `applied:${name}`,
    firstOffset,
    lastOffset,
    firstEventOffset: firstOffset,
    firstEventTimestamp: T0 + firstOffset,
    newestTimestamp: T0 + lastOffset,
    plain: ids.map((eventId) => ({ eventId, holdKey: `hold:${eventId}` })),
    increments: increments(ids.length, `user-${name}`),
    toCheck: [],
    ...overrides,
  };
};

const toCheck = (eventId: string) => ({
  eventId,
  holdKey: `hold:${eventId}`,
  increments: increments(1, `user-${eventId}`),
});

type Store = ReturnType<typeof memoryRedis>;

const run = (store: Store, parts: PartitionIncrements[]): BatchReply => {
  const { keys, args } = encodeBatch(parts, ttls, recent);
  return decodeReply(APPLY_ANALYTICS_BATCH.emulate(store.call, keys, args), parts.length);
};

const verdicts = (store: Store, parts: PartitionIncrements[]) => {
  const reply = run(store, parts);
  if (reply.outcome !== 'done') throw new Error(`expected done, got ${JSON.stringify(reply)}`);
  return reply.verdicts;
};

const value = (store: Store, key: string) => {
  const stored = store.data.get(key);
  if (stored === undefined) return undefined;
  return stored.type === 'string' ? stored.value : [...stored.value].map(String).sort();
};
const total = (store: Store) => Number(value(store, 'total') ?? 0);

describe('the analytics batch script: offsets', () => {
  it('applies a fresh partition and records the offset and newest timestamp applied, with TTLs', () => {
    const store = memoryRedis();

    expect(verdicts(store, [part('p0', 0, 99)])).toEqual([{ status: 'applied' }]);
    expect(total(store)).toBe(100);
    expect(value(store, 'applied:p0')).toBe(`99:${T0 + 99}`);
    expect(store.ttl.get('applied:p0')).toBe(ttls.applied);
    expect(store.ttl.get('total')).toBe(ttls.data);
    expect(store.ttl.get('users')).toBe(ttls.data);
  });

  it('changes nothing for a batch at or below the applied offset (a redelivery)', () => {
    const store = memoryRedis();
    verdicts(store, [part('p0', 0, 99)]);

    expect(verdicts(store, [part('p0', 0, 99)])).toEqual([{ status: 'already-applied' }]);
    expect(verdicts(store, [part('p0', 10, 20)])).toEqual([{ status: 'already-applied' }]);
    expect(total(store)).toBe(100);
  });

  it('reports a batch overlapping the applied offset with that offset, changing nothing', () => {
    const store = memoryRedis();
    verdicts(store, [part('p0', 0, 99)]);

    expect(verdicts(store, [part('p0', 50, 149)])).toEqual([
      { status: 'overlaps', appliedThrough: 99 },
    ]);
    expect(total(store)).toBe(100);
    expect(verdicts(store, [part('p0', 100, 149)])).toEqual([{ status: 'applied' }]);
    expect(total(store)).toBe(150);
  });

  it('decides per partition within one batch', () => {
    const store = memoryRedis();
    verdicts(store, [part('p0', 0, 9)]);

    expect(verdicts(store, [part('p0', 0, 9), part('p1', 0, 4), part('p2', 5, 12)])).toEqual([
      { status: 'already-applied' },
      { status: 'applied' },
      { status: 'applied' },
    ]);
    expect(total(store)).toBe(10 + 5 + 8);
  });

  it('counts a recreated log: offsets from 0 again, with records newer than all applied', () => {
    const store = memoryRedis();
    verdicts(store, [part('p0', 0, 99)]);
    const later = T0 + 3_600_000;

    const reply = verdicts(store, [
      part('p0', 0, 49, { firstEventTimestamp: later, newestTimestamp: later + 49 }),
    ]);

    expect(reply).toEqual([{ status: 'reset' }]);
    expect(total(store)).toBe(150);
    expect(value(store, 'applied:p0')).toBe(`49:${later + 49}`);
    // ...and a redelivery of the new log's records is recognised again.
    expect(
      verdicts(store, [part('p0', 0, 49, { firstEventTimestamp: later, newestTimestamp: later })]),
    ).toEqual([{ status: 'already-applied' }]);
    expect(total(store)).toBe(150);
  });

  it('never takes a redelivery for a recreated log: its records are no newer than those applied', () => {
    const store = memoryRedis();
    // Timestamps out of offset order, as producers' clocks give them.
    verdicts(store, [
      part('p0', 0, 99, { firstEventTimestamp: T0 + 500, newestTimestamp: T0 + 900 }),
    ]);

    expect(
      verdicts(store, [
        part('p0', 40, 99, { firstEventTimestamp: T0 + 900, newestTimestamp: T0 + 900 }),
      ]),
    ).toEqual([{ status: 'already-applied' }]);
    expect(value(store, 'applied:p0')).toBe(`99:${T0 + 900}`);
  });

  it('reads an applied offset written without a timestamp (before logs were told apart)', () => {
    const store = memoryRedis();
    store.call('SET', 'applied:p0', '99');

    expect(verdicts(store, [part('p0', 0, 49, { firstEventTimestamp: T0 + 10 ** 9 })])).toEqual([
      { status: 'already-applied' },
    ]);
    expect(verdicts(store, [part('p0', 100, 109)])).toEqual([{ status: 'applied' }]);
    expect(value(store, 'applied:p0')).toBe(`109:${T0 + 109}`);
  });
});

describe('the analytics batch script: a second copy of an event at a new offset', () => {
  it('counts an event to check once: not when its hold says counted or a recent trace has it', () => {
    const store = memoryRedis();
    store.call('SET', 'hold:counted-before', 'counted');
    store.call('SADD', 'recent:before', 'traced');
    const batch = part('p0', 0, 3, {
      plain: [],
      increments: { counters: new Map(), sets: new Map() },
      toCheck: ['counted-before', 'traced', 'new-one'].map(toCheck),
    });

    const reply = run(store, [batch]);

    expect(reply).toEqual({ outcome: 'done', duplicates: 2, verdicts: [{ status: 'applied' }] });
    expect(total(store)).toBe(1);
    expect(value(store, 'users')).toEqual(['user-new-one']);
    expect(value(store, 'hold:new-one')).toBe('counted');
    expect(store.ttl.get('hold:new-one')).toBe(ttls.hold);
    expect(value(store, 'recent:now')).toEqual(['new-one']);
  });

  it('counts an event whose hold is pending, and marks it counted', () => {
    const store = memoryRedis();
    store.call('SET', 'hold:e1', 'held', 'EX', 600);

    const reply = run(store, [
      part('p0', 0, 0, {
        plain: [],
        increments: { counters: new Map(), sets: new Map() },
        toCheck: [toCheck('e1')],
      }),
    ]);

    expect(reply).toMatchObject({ outcome: 'done', duplicates: 0 });
    expect(total(store)).toBe(1);
    expect(value(store, 'hold:e1')).toBe('counted');
  });

  it('sends back the plain events that have a hold, changing nothing', () => {
    const store = memoryRedis();
    store.call('SET', 'hold:p0-2', 'held');

    const reply = run(store, [part('p0', 0, 4)]);

    expect(reply).toEqual({ outcome: 'held', eventIds: ['p0-2'] });
    expect(value(store, 'total')).toBeUndefined();
    expect(value(store, 'applied:p0')).toBeUndefined();
    expect(value(store, 'recent:now')).toBeUndefined();
  });

  it('records every counted event in the current minute, and reads the window only to check', () => {
    const store = memoryRedis();

    run(store, [part('p0', 0, 2)]);
    const { keys } = encodeBatch([part('p0', 3, 4)], ttls, recent);

    expect(value(store, 'recent:now')).toEqual(['p0-0', 'p0-1', 'p0-2']);
    expect(store.ttl.get('recent:now')).toBe(ttls.recent);
    expect(keys).not.toContain('recent:before');
  });
});

describe('the analytics batch script: all or nothing', () => {
  it('writes nothing, and names the key, when a counter key holds another type part way through', () => {
    const store = memoryRedis();
    store.call('SADD', 'broken', 'x');
    const second = part('p1', 0, 4, {
      increments: { counters: new Map([['broken', 5]]), sets: new Map() },
    });

    expect(() => run(store, [part('p0', 0, 9), second])).toThrow(/WRONGTYPE/);
    expect(value(store, 'total')).toBeUndefined();
    expect(value(store, 'applied:p0')).toBeUndefined();
    expect(value(store, 'recent:now')).toBeUndefined();
  });

  it('writes nothing when a counter holds text, a set key is not a set, or an applied offset is garbage', () => {
    const cases: Array<[string, (store: Store) => void, PartitionIncrements[], RegExp]> = [
      [
        'counter holding text',
        (store) => store.call('SET', 'total', 'lots'),
        [part('p0', 0, 9)],
        /total holds "lots", not a counter/,
      ],
      [
        'set key holding a string',
        (store) => store.call('SET', 'users', '1'),
        [part('p0', 0, 9)],
        /users is a string, not a set/,
      ],
      [
        'applied offset garbage',
        (store) => store.call('SET', 'applied:p1', 'yesterday'),
        [part('p0', 0, 9), part('p1', 0, 9)],
        /applied:p1 holds "yesterday", not an applied offset/,
      ],
      [
        'recent traces not a set',
        (store) => store.call('SET', 'recent:now', 'x'),
        [part('p0', 0, 9)],
        /recent:now is a string, not a set/,
      ],
    ];
    for (const [name, prepare, parts, message] of cases) {
      const store = memoryRedis();
      prepare(store);
      const before = ['total', 'users', 'applied:p0', 'applied:p1', 'recent:now'].map((key) =>
        value(store, key),
      );

      expect(() => run(store, parts), name).toThrow(message);
      expect(
        ['total', 'users', 'applied:p0', 'applied:p1', 'recent:now'].map((key) =>
          value(store, key),
        ),
        name,
      ).toEqual(before);
    }
  });

  it('refuses malformed arguments before reading or writing anything', () => {
    const store = memoryRedis();
    const { keys, args } = encodeBatch([part('p0', 0, 9)], ttls, recent);

    expect(() => APPLY_ANALYTICS_BATCH.emulate(store.call, keys, args.slice(0, -3))).toThrow(
      /ARGV ends at/,
    );
    expect(() => APPLY_ANALYTICS_BATCH.emulate(store.call, keys, [...args, 'extra'])).toThrow(
      /1 ARGV left over/,
    );
    expect(() =>
      APPLY_ANALYTICS_BATCH.emulate(store.call, keys, ['ten', ...args.slice(1)]),
    ).toThrow(/ARGV\[1\] is not an integer: ten/);
    expect(value(store, 'total')).toBeUndefined();
  });
});

describe('the analytics batch script: encoding', () => {
  it('sends each key once, however many partitions touch it', () => {
    const { keys, args } = encodeBatch([part('p0', 0, 1), part('p1', 0, 1)], ttls, recent);

    expect(keys).toEqual([
      'recent:now',
      'applied:p0',
      'hold:p0-0',
      'hold:p0-1',
      'total',
      'users',
      'applied:p1',
      'hold:p1-0',
      'hold:p1-1',
    ]);
    // TTLs, current recent key, no window, 2 partitions; p0: applied key, offsets 0-1, first
    // event 0 at T0, newest T0 + 1, 2 plain (id, hold), 1 counter (key 5, 2), 1 set (key 6, 1, member).
    expect(args.slice(0, 26)).toEqual([
      '7776000',
      '691200',
      '691200',
      '1080',
      '1',
      '0',
      '2',
      '2',
      '0',
      '1',
      '0',
      String(T0),
      String(T0 + 1),
      '2',
      'p0-0',
      '3',
      'p0-1',
      '4',
      '1',
      '5',
      '2',
      '1',
      '6',
      '1',
      'user-p0',
      '0',
    ]);
  });

  it('reads the reply whether @upstash/redis turned its numeric strings into numbers or not', () => {
    expect(decodeReply(['done', 0, 1, '-1', 0, '99', 2, '41', 3, '7'], 4)).toEqual(
      decodeReply(['done', '0', 1, -1, 0, 99, 2, 41, 3, 7], 4),
    );
    expect(decodeReply(['held', 'e1', 'e2'], 1)).toEqual({
      outcome: 'held',
      eventIds: ['e1', 'e2'],
    });
    expect(() => decodeReply(['done', 0, 1], 1)).toThrow(/unexpected reply/);
    expect(() => decodeReply([1, '-1'], 1)).toThrow(/unexpected reply/);
  });

  it('is declared for the embedded store: found again by its Lua text', () => {
    expect(findScript(APPLY_ANALYTICS_BATCH.lua)).toBe(APPLY_ANALYTICS_BATCH);
  });
});
