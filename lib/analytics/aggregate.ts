import { ValidationError } from '../errors.ts';
import { dailyKeys, isIdentifier } from '../keys.ts';
import type { AnalyticsEvent } from './schema.ts';

/** What one batch of events adds to the daily counters, summed per key before any I/O. */
export interface DailyIncrements {
  /** counter key -> amount (one INCRBY each). */
  counters: Map<string, number>;
  /** set key -> members (one SADD each). */
  sets: Map<string, Set<string>>;
}

const ACTION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** The UTC calendar day (YYYY-MM-DD) of an epoch-ms time, when it has one (years 0-9999). */
const calendarDay = (ms: number): string | undefined => {
  if (!Number.isFinite(ms)) return undefined;
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  return Number.isNaN(year) || year < 0 || year > 9999
    ? undefined
    : date.toISOString().slice(0, 10);
};

/**
 * The UTC day of an event: its own timestamp, else (unreadable, or not a calendar day) the
 * record's; undefined when neither gives one (such an event is refused, never counted).
 */
export const dayOf = (event: AnalyticsEvent, recordTimestamp: number): string | undefined => {
  const own = typeof event.timestamp === 'string' ? Date.parse(event.timestamp) : Number.NaN;
  return calendarDay(own) ?? calendarDay(recordTimestamp);
};

/**
 * Why an analytics record cannot be counted (it is dead-lettered alone), or undefined. Checked
 * for every record before anything is written, so one bad record never fails its batch.
 */
export const problemOfEvent = (value: unknown, recordTimestamp: number): string | undefined => {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'value is not an event (an object with a string "type")';
  const event = value as AnalyticsEvent;
  if (typeof event.type !== 'string')
    return 'value is not an event (an object with a string "type")';
  if (!isIdentifier(event.eventId))
    return 'eventId must be 1-128 characters of A-Z a-z 0-9 _ . @ + - (it is how a copy of the event is recognised)';
  if (!Number.isSafeInteger(recordTimestamp))
    return `the record has no usable timestamp (${String(recordTimestamp).slice(0, 40)})`;
  if (dayOf(event, recordTimestamp) === undefined)
    return `neither the event's timestamp (${JSON.stringify(event.timestamp)?.slice(0, 40)}) nor the record's (${recordTimestamp}) is a time with a calendar day`;
  return undefined;
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
    const day = dayOf(event, recordTimestamp);
    // Unreachable for records that passed problemOfEvent; never guess a day.
    if (day === undefined)
      throw new ValidationError(
        `event ${event.eventId} has no calendar day; check it with problemOfEvent first`,
      );
    const keys = dailyKeys(day);
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
