import { describe, expect, it } from 'vitest';
import { aggregateDaily, dayOf, problemOfEvent } from '../../lib/analytics/aggregate.ts';
import type { AnalyticsEvent } from '../../lib/analytics/schema.ts';

const action = (
  userId: string,
  name: string,
  timestamp = '2026-11-27T10:00:00.000Z',
): AnalyticsEvent => ({
  eventId: `${userId}-${name}-${timestamp}`,
  type: 'USER_ACTION',
  userId,
  action: name,
  timestamp,
});
const at = (event: AnalyticsEvent) => ({
  event,
  recordTimestamp: Date.parse('2026-11-27T12:00:00Z'),
});

describe('aggregating a batch of analytics events', () => {
  it('turns 100 events of one action on one day into one increment of 100 per counter', () => {
    const { counters, sets } = aggregateDaily(
      Array.from({ length: 100 }, (_, i) => at(action(`u${i % 7}`, 'view'))),
    );

    expect(counters).toEqual(
      new Map([
        ['analytics:daily:2026-11-27:total_events', 100],
        ['analytics:daily:2026-11-27:user_actions', 100],
        ['analytics:daily:2026-11-27:action:view', 100],
      ]),
    );
    expect(sets.get('analytics:daily:2026-11-27:active_users')?.size).toBe(7);
    expect(sets.get('analytics:daily:2026-11-27:actions')).toEqual(new Set(['view']));
  });

  it("keeps days apart by the event's own timestamp", () => {
    const { counters } = aggregateDaily([
      at(action('u1', 'buy', '2026-11-26T23:59:59.999Z')),
      at(action('u1', 'buy', '2026-11-27T00:00:00.000Z')),
    ]);
    expect(counters.get('analytics:daily:2026-11-26:action:buy')).toBe(1);
    expect(counters.get('analytics:daily:2026-11-27:action:buy')).toBe(1);
  });

  it('counts system events in total_events only, and their user as active when they name one', () => {
    const { counters, sets } = aggregateDaily([
      at({ eventId: 's1', type: 'DEPLOYMENT', timestamp: '2026-11-27T01:00:00Z' }),
      at({ eventId: 's2', type: 'USER_UPDATED', userId: 'u9', timestamp: '2026-11-27T01:00:00Z' }),
    ]);
    expect(counters).toEqual(new Map([['analytics:daily:2026-11-27:total_events', 2]]));
    expect(sets.get('analytics:daily:2026-11-27:active_users')).toEqual(new Set(['u9']));
  });

  it('never builds a key from an action name that could escape its key space', () => {
    const { counters } = aggregateDaily([at(action('u1', 'x:*:y'))]);
    expect([...counters.keys()].some((key) => key.includes('*'))).toBe(false);
    expect(counters.get('analytics:daily:2026-11-27:user_actions')).toBe(1);
  });

  it("uses the record timestamp when the event's is unreadable", () => {
    expect(
      dayOf(
        { eventId: 'e', type: 'X', timestamp: 'yesterday' },
        Date.parse('2026-01-02T03:04:05Z'),
      ),
    ).toBe('2026-01-02');
  });

  it('has no day, rather than throwing, when neither timestamp is a time with a calendar day', () => {
    const event = { eventId: 'e', type: 'X', timestamp: 'yesterday' };
    expect(dayOf(event, 8.64e15 + 1)).toBeUndefined();
    expect(dayOf(event, Number.NaN)).toBeUndefined();
    expect(dayOf({ ...event, timestamp: '+010000-01-01T00:00:00Z' }, 8.64e15)).toBeUndefined();
    expect(dayOf({ ...event, timestamp: '+010000-01-01T00:00:00Z' }, 0)).toBe('1970-01-01');
  });
});

describe('which analytics records can be counted', () => {
  const event = { eventId: 'e-1', type: 'USER_ACTION', timestamp: '2026-11-27T10:00:00Z' };
  const now = Date.parse('2026-11-27T12:00:00Z');

  it('an event with a type, an eventId that can key its hold, and a calendar day', () => {
    expect(problemOfEvent(event, now)).toBeUndefined();
    expect(problemOfEvent({ ...event, timestamp: 'soon' }, now)).toBeUndefined();
  });

  it('names what is wrong with each other record', () => {
    expect(problemOfEvent(null, now)).toMatch(/not an event/);
    expect(problemOfEvent([event], now)).toMatch(/not an event/);
    expect(problemOfEvent({ ...event, type: 7 }, now)).toMatch(/not an event/);
    expect(problemOfEvent({ ...event, eventId: undefined }, now)).toMatch(/eventId must be/);
    expect(problemOfEvent({ ...event, eventId: 'a:b' }, now)).toMatch(/eventId must be/);
    expect(problemOfEvent({ ...event, eventId: 'x'.repeat(129) }, now)).toMatch(/eventId must be/);
    expect(problemOfEvent(event, Number.NaN)).toMatch(/no usable timestamp/);
    expect(problemOfEvent({ ...event, timestamp: 'soon' }, 8.64e15 + 1)).toMatch(
      /nor the record's \(8640000000000001\) is a time with a calendar day/,
    );
  });
});
