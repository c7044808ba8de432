import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../lib/redis/memory-store.ts';

const clock = () => {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

describe('the in-memory TTL store', () => {
  it('returns a value until its TTL has passed, then never again', () => {
    const time = clock();
    const store = new MemoryStore(100, time.now);
    store.set('k', { v: 1 }, 10);

    time.advance(9_999);
    expect(store.get('k')).toEqual({ v: 1 });
    time.advance(1);
    expect(store.get('k')).toBeNull();
    expect(store.size).toBe(0);
  });

  it('keeps a value without a TTL', () => {
    const time = clock();
    const store = new MemoryStore(100, time.now);
    store.set('k', 'forever');
    time.advance(10 ** 12);
    expect(store.get('k')).toBe('forever');
  });

  it('drops expired entries it is not asked about when it is written to', () => {
    const time = clock();
    const store = new MemoryStore(100, time.now);
    for (let i = 0; i < 5; i += 1) store.set(`old-${i}`, i, 1);
    time.advance(2_000);

    store.set('new', 'x', 60);

    expect(store.size).toBe(1);
  });

  it('holds at most maxEntries, evicting the oldest written', () => {
    const store = new MemoryStore(3);
    for (const key of ['a', 'b', 'c', 'd']) store.set(key, key);
    expect(store.get('a')).toBeNull();
    expect(['b', 'c', 'd'].map((key) => store.get(key))).toEqual(['b', 'c', 'd']);
  });

  it('treats an overwrite as a new write (new TTL, newest position)', () => {
    const time = clock();
    const store = new MemoryStore(2, time.now);
    store.set('a', 1, 1);
    store.set('b', 2);
    store.set('a', 3, 100);
    store.set('c', 4);
    time.advance(5_000);
    expect(store.get('a')).toBe(3);
    expect(store.get('b')).toBeNull();
  });

  it('deletes', () => {
    const store = new MemoryStore();
    store.set('a', 1);
    expect(store.del('a')).toBe(true);
    expect(store.del('a')).toBe(false);
    expect(store.get('a')).toBeNull();
  });
});
