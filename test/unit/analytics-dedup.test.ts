import { describe, expect, it } from 'vitest';
import {
  analyticsEventIdOf,
  currentRecentKey,
  holdArguments,
  holdEvents,
  RECENT_WINDOW_MINUTES,
  recentWindowKeys,
} from '../../lib/analytics/dedup.ts';
import { memoryRedis } from './script-memory-store.ts';

// The pieces of counting an event once by its eventId (lib/analytics/dedup.ts) that need no
// server: which recent-trace sets a check reads, and what a hold says.

const at = (iso: string) => Date.parse(iso);

describe('recent traces', () => {
  it('go to one set per 5 minutes', () => {
    expect(currentRecentKey(at('2026-11-27T10:04:59Z'))).toBe('analytics:recent:2026-11-27T10:00');
    expect(currentRecentKey(at('2026-11-27T10:05:00Z'))).toBe('analytics:recent:2026-11-27T10:05');
  });

  it(`are looked for in every set an event counted up to ${RECENT_WINDOW_MINUTES} minutes ago went to, and the next minute's`, () => {
    for (const now of ['2026-11-27T10:00:00Z', '2026-11-27T10:04:30Z', '2026-11-27T10:59:59Z']) {
      const window = recentWindowKeys(at(now));
      for (let secondsAgo = 0; secondsAgo <= RECENT_WINDOW_MINUTES * 60; secondsAgo += 30)
        expect(window, `${now} - ${secondsAgo} s`).toContain(
          currentRecentKey(at(now) - secondsAgo * 1000),
        );
      expect(window).toContain(currentRecentKey(at(now) + 60_000));
      expect(window.length).toBeLessThanOrEqual(5);
    }
  });
});

describe('holds', () => {
  const hold = (store: ReturnType<typeof memoryRedis>, ids: string[], now: number) => {
    const { keys, args } = holdArguments(ids, now);
    const window = Number(args[0]);
    holdEvents(
      store.call,
      keys.slice(0, window),
      keys.slice(window),
      args.slice(2),
      String(args[1]),
    );
  };
  const value = (store: ReturnType<typeof memoryRedis>, key: string) => {
    const stored = store.data.get(key);
    return stored?.type === 'string' ? stored.value : undefined;
  };

  it('say counted when the first copy was counted recently, held when not, and are never replaced', () => {
    const store = memoryRedis();
    const now = at('2026-11-27T10:07:00Z');
    store.call('SADD', currentRecentKey(now - 12 * 60_000), 'counted-earlier');
    store.call('SET', 'analytics:event:already', 'counted');

    hold(store, ['counted-earlier', 'never-seen', 'already'], now);
    hold(store, ['never-seen'], now + 60_000);

    expect(value(store, 'analytics:event:counted-earlier')).toBe('counted');
    expect(value(store, 'analytics:event:never-seen')).toBe('held');
    expect(value(store, 'analytics:event:already')).toBe('counted');
    expect(store.ttl.get('analytics:event:never-seen')).toBe(8 * 86_400);
  });

  it('are written only for analytics events whose eventId can be part of a key', () => {
    expect(analyticsEventIdOf({ type: 'USER_ACTION', eventId: 'e-1' })).toBe('e-1');
    expect(analyticsEventIdOf({ eventId: 'e-1', orderId: 'o-1' })).toBeUndefined();
    expect(analyticsEventIdOf({ type: 'USER_ACTION', eventId: 'a:b' })).toBeUndefined();
    expect(analyticsEventIdOf('text')).toBeUndefined();
  });
});
