import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aggregateDaily, type DailyIncrements, dayOf } from '../../lib/analytics/aggregate.ts';
import type { AnalyticsEvent } from '../../lib/analytics/schema.ts';
import { dailyKeys } from '../../lib/keys.ts';

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
