import { describe, expect, it } from 'vitest';
import {
  APPLY_ANALYTICS_BATCH,
  decodeVerdicts,
  encodeBatch,
  type PartitionIncrements,
} from '../../lib/analytics/batch-script.ts';
import { findScript } from '../../lib/redis/scripts.ts';
import { memoryRedis } from './script-memory-store.ts';

// The analytics batch script's decisions, run through its JavaScript mirror (what the embedded
// store runs). test/integration/analytics-batch-script.test.ts proves the Lua does the same.

const ttls = { data: 7_776_000, applied: 691_200 };

const part = (
  name: string,
  firstOffset: number,
  lastOffset: number,
  amount = lastOffset - firstOffset + 1,
): PartitionIncrements => ({
  appliedKey: `applied:${name}`,
  firstOffset,
  lastOffset,
  increments: {
    counters: new Map([['total', amount]]),
    sets: new Map([['users', new Set([`user-${name}`])]]),
  },
});

const run = (store: ReturnType<typeof memoryRedis>, parts: PartitionIncrements[]) => {
  const { keys, args } = encodeBatch(parts, ttls);
  return decodeVerdicts(APPLY_ANALYTICS_BATCH.emulate(store.call, keys, args), parts.length);
};

const total = (store: ReturnType<typeof memoryRedis>) => {
  const stored = store.data.get('total');
  return stored?.type === 'string' ? Number(stored.value) : 0;
};

describe('the analytics batch script', () => {
  it('applies a fresh partition and records the offset it is applied through, with TTLs', () => {
    const store = memoryRedis();

    expect(run(store, [part('p0', 0, 99)])).toEqual([{ status: 'applied' }]);
    expect(total(store)).toBe(100);
    expect(store.data.get('applied:p0')).toEqual({ type: 'string', value: '99' });
    expect(store.ttl.get('applied:p0')).toBe(ttls.applied);
    expect(store.ttl.get('total')).toBe(ttls.data);
    expect(store.ttl.get('users')).toBe(ttls.data);
  });

  it('changes nothing for a batch at or below the applied offset (a redelivery)', () => {
    const store = memoryRedis();
    run(store, [part('p0', 0, 99)]);

    expect(run(store, [part('p0', 0, 99)])).toEqual([{ status: 'already-applied' }]);
    expect(run(store, [part('p0', 10, 20)])).toEqual([{ status: 'already-applied' }]);
    expect(total(store)).toBe(100);
  });

  it('reports a batch overlapping the applied offset with that offset, changing nothing', () => {
    const store = memoryRedis();
    run(store, [part('p0', 0, 99)]);

    expect(run(store, [part('p0', 50, 149)])).toEqual([{ status: 'overlaps', appliedThrough: 99 }]);
    expect(run(store, [part('p0', 99, 100)])).toEqual([{ status: 'overlaps', appliedThrough: 99 }]);
    expect(total(store)).toBe(100);
    expect(run(store, [part('p0', 100, 149)])).toEqual([{ status: 'applied' }]);
    expect(total(store)).toBe(150);
  });

  it('decides per partition within one batch', () => {
    const store = memoryRedis();
    run(store, [part('p0', 0, 9)]);

    expect(run(store, [part('p0', 0, 9), part('p1', 0, 4), part('p2', 5, 12)])).toEqual([
      { status: 'already-applied' },
      { status: 'applied' },
      { status: 'applied' },
    ]);
    expect(total(store)).toBe(10 + 5 + 8);
  });

  it('sends each key once, however many partitions touch it', () => {
    const { keys, args } = encodeBatch([part('p0', 0, 9), part('p1', 0, 9)], ttls);

    expect(keys).toEqual(['applied:p0', 'applied:p1', 'total', 'users']);
    // data TTL, applied TTL, 2 partitions; p0: 0, 9, 1 counter, 1 set, (key 3, 10), (key 4, 1, member)
    expect(args.slice(0, 12)).toEqual([
      '7776000',
      '691200',
      '2',
      '0',
      '9',
      '1',
      '1',
      '3',
      '10',
      '4',
      '1',
      'user-p0',
    ]);
  });

  it('reads the reply whether @upstash/redis turned its numeric strings into numbers or not', () => {
    expect(decodeVerdicts([1, '-1', 0, '99', 2, '41'], 3)).toEqual(
      decodeVerdicts([1, -1, 0, 99, 2, 41], 3),
    );
    expect(() => decodeVerdicts([1], 1)).toThrow(/expected 2 reply items/);
  });

  it('is declared for the embedded store: found again by its Lua text', () => {
    expect(findScript(APPLY_ANALYTICS_BATCH.lua)).toBe(APPLY_ANALYTICS_BATCH);
  });
});
