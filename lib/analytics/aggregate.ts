import { dailyKeys } from '../keys.ts';
import type { AnalyticsEvent } from './schema.ts';

/** What one batch of events adds to the daily counters, summed per key before any I/O. */
export interface DailyIncrements {
  /** counter key -> amount (one INCRBY each). */
  counters: Map<string, number>;
  /** set key -> members (one SADD each). */
  sets: Map<string, Set<string>>;
}

const ACTION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** The UTC day of an event: its own timestamp, else the record's. */
export const dayOf = (event: AnalyticsEvent, recordTimestamp: number): string => {
  const parsed = Date.parse(event.timestamp);
  return new Date(Number.isNaN(parsed) ? recordTimestamp : parsed).toISOString().slice(0, 10);
};

/**
 * Aggregates a batch: 100 events of one action on one day become one increment of 100, not
 * 100 increments. Every event counts in total_events; USER_ACTION events also in user_actions
 * and action:{name}; every event with a userId makes that user active that day.
 */
export const aggregateDaily = (
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
  for (const { event, recordTimestamp } of events) {
    const keys = dailyKeys(dayOf(event, recordTimestamp));
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
