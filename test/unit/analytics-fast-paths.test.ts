import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aggregateDaily, type DailyIncrements, dayOf } from '../../lib/analytics/aggregate.ts';
import {
  type AnalyticsSlice,
  APPLIED_OFFSET_TTL_SECONDS,
  analyticsBatchRequest,
  type SliceEvent,
} from '../../lib/analytics/analytics.ts';
import { encodeBatch, type PartitionIncrements } from '../../lib/analytics/batch-script.ts';
import {
  currentRecentKey,
  HOLD_TTL_SECONDS,
  RECENT_TTL_SECONDS,
  recentWindowKeys,
} from '../../lib/analytics/dedup.ts';
import type { AnalyticsEvent } from '../../lib/analytics/schema.ts';
import { analyticsDedupKeys, dailyKeys, TTL } from '../../lib/keys.ts';

/**
 * The analytics fast paths (issue 18) against the code they replaced, kept here verbatim as
 * the reference: each must give the same result, down to the order of the maps (the order the
 * script's KEYS and ARGV are written in).
 */

const ACTION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const oldAggregateDaily = (
  events: Array<{ event: AnalyticsEvent; recordTimestamp: number }>,
): DailyIncrements => {
  const counters = new Map<string, number>();
  const sets = new Map<string, Set<string>>();
  const add = (key: string, amount = 1) => counters.set(key, (counters.get(key) ?? 0) + amount);
  const member = (key: string, value: string) => {
    const set = sets.get(key) ?? new Set<string>();
    set.add(value);
    sets.set(key, set);
  };
  const keysOfDay = new Map<string, ReturnType<typeof dailyKeys>>();
  for (const { event, recordTimestamp } of events) {
    const day = dayOf(event, recordTimestamp);
    if (day === undefined) throw new Error(`event ${event.eventId} has no calendar day`);
    let keys = keysOfDay.get(day);
    if (keys === undefined) {
      keys = dailyKeys(day);
      keysOfDay.set(day, keys);
    }
    add(keys.totalEvents);
    if (event.type === 'USER_ACTION') {
      add(keys.userActions);
      if (typeof event.action === 'string' && ACTION_NAME.test(event.action)) {
        add(keys.action(event.action));
        member(keys.actionNames, event.action);
      }
    }
    if (typeof event.userId === 'string' && event.userId.length > 0)
      member(keys.activeUsers, event.userId);
  }
  return { counters, sets };
};

/** The maps as arrays, so that equality includes their order. */
const ordered = ({ counters, sets }: DailyIncrements) => ({
  counters: [...counters],
  sets: [...sets].map(([key, members]) => [key, [...members]]),
});

/** Events of a few types, actions (some not usable in a key), users and days. */
const analyticsEvent = fc.record({
  eventId: fc.constantFrom('e1', 'e2', 'e3'),
  type: fc.constantFrom('USER_ACTION', 'USER_ACTION', 'USER_LOGGED_IN', 'DEPLOYMENT'),
  action: fc.oneof(
    fc.constantFrom('view', 'buy', 'x:*:y', '', '__proto__', 'a'.repeat(65)),
    fc.integer(),
    fc.constant(undefined),
  ),
  userId: fc.oneof(fc.constantFrom('u1', 'u2', 'u3', ''), fc.integer(), fc.constant(undefined)),
  timestamp: fc.oneof(
    fc.constantFrom(
      '2026-11-26T23:59:59.999Z',
      '2026-11-27T00:00:00.000Z',
      '2026-11-30T12:00:00.000Z',
      '2026-11-27T01:00:00+05:00',
      'yesterday',
    ),
    fc.integer(),
  ),
}) as fc.Arbitrary<unknown> as fc.Arbitrary<AnalyticsEvent>;

describe('aggregating a batch', () => {
  it('gives the counters and sets that adding one event at a time gave, in the same order (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            event: analyticsEvent,
            recordTimestamp: fc.constantFrom(Date.parse('2026-11-28T12:00:00Z'), 0),
          }),
          { maxLength: 40 },
        ),
        (events) => {
          expect(ordered(aggregateDaily(events))).toEqual(ordered(oldAggregateDaily(events)));
        },
      ),
      { numRuns: 3_000 },
    );
  });
});

const oldAppliedOffsetKey = (cluster: string, topic: string, partition: number): string =>
  `analytics:applied:${createHash('sha1').update(cluster).digest('hex').slice(0, 12)}:${topic}:${partition}`;

const oldPartOf = (
  slice: AnalyticsSlice,
  leftOut: ReadonlySet<SliceEvent>,
  held: ReadonlySet<string>,
): PartitionIncrements => {
  const counted = slice.events.filter((item) => !leftOut.has(item));
  const checked = (item: SliceEvent) =>
    item.possibleDuplicate === true || held.has(item.event.eventId);
  const plain = counted.filter((item) => !checked(item));
  const [first] = slice.events;
  return {
    appliedKey: oldAppliedOffsetKey(slice.cluster, slice.topic, slice.partition),
    firstOffset: slice.firstOffset,
    lastOffset: slice.lastOffset,
    firstEventOffset: first?.offset ?? slice.firstOffset,
    firstEventTimestamp: first?.recordTimestamp ?? 0,
    newestTimestamp: Math.max(...slice.events.map((item) => item.recordTimestamp)),
    plain: plain.map(({ event }) => ({
      eventId: event.eventId,
      holdKey: analyticsDedupKeys.hold(event.eventId),
    })),
    increments: oldAggregateDaily(plain),
    toCheck: counted.filter(checked).map((item) => ({
      eventId: item.event.eventId,
      holdKey: analyticsDedupKeys.hold(item.event.eventId),
      increments: oldAggregateDaily([item]),
    })),
  };
};

const oldLaterCopies = (slices: readonly AnalyticsSlice[]): Set<SliceEvent> => {
  const seen = new Set<string>();
  const later = new Set<SliceEvent>();
  for (const slice of slices)
    for (const item of slice.events) {
      if (seen.has(item.event.eventId)) later.add(item);
      seen.add(item.event.eventId);
    }
  return later;
};

const oldBatchRequest = (
  slices: readonly AnalyticsSlice[],
  now: number,
  held: ReadonlySet<string>,
  leftOut: ReadonlySet<SliceEvent>,
) =>
  encodeBatch(
    slices.map((slice) => oldPartOf(slice, leftOut, held)),
    {
      data: TTL.dailyStats,
      applied: APPLIED_OFFSET_TTL_SECONDS,
      hold: HOLD_TTL_SECONDS,
      recent: RECENT_TTL_SECONDS,
    },
    { current: currentRecentKey(now), window: recentWindowKeys(now) },
  );

/** Slices of 0-12 events over a few clusters and partitions; ids repeat, some are marked. */
const slicesArbitrary = fc.array(
  fc.record({
    cluster: fc.constantFrom('arn:aws:kafka:a', 'b1:9092,b2:9092'),
    topic: fc.constantFrom('user.events', 'system.events'),
    partition: fc.nat(3),
    firstOffset: fc.nat(1_000),
    events: fc.array(
      fc.record({
        event: analyticsEvent.map((event) => ({
          ...event,
          timestamp: typeof event.timestamp === 'string' ? event.timestamp : 'yesterday',
        })),
        recordTimestamp: fc.integer({ min: 1e12, max: 2e12 }),
        possibleDuplicate: fc.oneof(fc.boolean(), fc.constant(undefined)),
      }),
      { maxLength: 12 },
    ),
  }),
  { maxLength: 3 },
);

describe('one request of a batch', () => {
  it('has the KEYS and ARGV the partition-by-filters code built (property)', () => {
    fc.assert(
      fc.property(
        slicesArbitrary,
        fc.uniqueArray(fc.constantFrom('e1', 'e2', 'e3'), { maxLength: 2 }),
        fc.boolean(),
        (drafts, heldIds, leaveCopiesOut) => {
          const slices: AnalyticsSlice[] = drafts.map(({ events, firstOffset, ...slice }) => ({
            ...slice,
            firstOffset,
            lastOffset: firstOffset + events.length,
            events: events.map(({ possibleDuplicate, ...item }, i) => ({
              ...item,
              offset: firstOffset + i,
              ...(possibleDuplicate === undefined ? {} : { possibleDuplicate }),
            })),
          }));
          const now = Date.parse('2026-11-27T10:00:00Z');
          const held = new Set(heldIds);
          const leftOut = leaveCopiesOut ? oldLaterCopies(slices) : new Set<SliceEvent>();
          expect(analyticsBatchRequest(slices, now, held, leftOut)).toEqual(
            oldBatchRequest(slices, now, held, leftOut),
          );
          expect(analyticsBatchRequest(slices, now)).toEqual(
            oldBatchRequest(slices, now, new Set(), oldLaterCopies(slices)),
          );
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('recent-trace keys', () => {
  const oldBucketKey = (ms: number) =>
    analyticsDedupKeys.recent(
      new Date(Math.floor(ms / 300_000) * 300_000).toISOString().slice(0, 16),
    );
  const oldWindow = (now: number) => {
    const times = [now + 60_000];
    for (let back = 0; back <= 15; back += 5) times.push(now - back * 60_000);
    return [...new Set(times.map(oldBucketKey))];
  };

  it('are the keys a Date formatted each time gave, for any time, asked again or not (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.integer({ min: -8.64e15 + 3_600_000, max: 8.64e15 - 3_600_000 }),
            fc.double({ min: -1e13, max: 1e13, noNaN: true }),
            fc.constantFrom(0, -0, 299_999.5, -0.5),
          ),
          { minLength: 1, maxLength: 5 },
        ),
        (times) => {
          for (const now of [...times, ...times]) {
            expect(currentRecentKey(now)).toBe(oldBucketKey(now));
            expect(recentWindowKeys(now)).toEqual(oldWindow(now));
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
