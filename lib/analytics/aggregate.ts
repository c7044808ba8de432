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

const DAY_MS = 86_400_000;
/** 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the times with a four-digit year. */
const FIRST_MS = Date.parse('0000-01-01T00:00:00Z');
const END_MS = Date.parse('+010000-01-01T00:00:00Z');

/**
 * Day number (days since 1970-01-01) -> YYYY-MM-DD. A batch spans a day or two, so formatting
 * once per day instead of once per event saves a Date and an ISO string per event; bounded,
 * in case a consumer container lives through a replay of many days.
 */
const dayNames = new Map<number, string>();
const MAX_DAY_NAMES = 1_024;

/** The UTC calendar day (YYYY-MM-DD) of an epoch-ms time, when it has one (years 0-9999). */
export const calendarDay = (ms: number): string | undefined => {
  if (!Number.isFinite(ms)) return undefined;
  // As Date does (TimeClip): a fraction of a millisecond is cut off towards zero.
  const at = Math.trunc(ms);
  if (at < FIRST_MS || at >= END_MS) return undefined;
  const dayNumber = Math.floor(at / DAY_MS);
  let name = dayNames.get(dayNumber);
  if (name === undefined) {
    name = new Date(dayNumber * DAY_MS).toISOString().slice(0, 10);
    if (dayNames.size >= MAX_DAY_NAMES) dayNames.clear();
    dayNames.set(dayNumber, name);
  }
  return name;
};

/** Two decimal digits of `text` at `at` as a number; NaN unless both are ASCII digits. */
const twoDigits = (text: string, at: number): number => {
  const tens = text.charCodeAt(at) - 48;
  const ones = text.charCodeAt(at + 1) - 48;
  return tens >= 0 && tens <= 9 && ones >= 0 && ones <= 9 ? tens * 10 + ones : Number.NaN;
};

/**
 * The day of a timestamp written as toISOString writes it (`YYYY-MM-DDTHH:mm:ss.sssZ`, what
 * the producers send) when that is certainly a valid time, without Date.parse (the costliest
 * step of checking and counting an event, each of which asks for its day): a four-digit year,
 * month 01-12, day 01-28 (valid in every month), 00:00:00-23:59:59, so Date.parse would give a
 * time on that very day. undefined for anything else, days 29-31 included: Date.parse decides.
 */
export const plainIsoDay = (text: string): string | undefined => {
  if (
    text.length !== 24 ||
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 || // T
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58 ||
    text.charCodeAt(19) !== 46 || // .
    text.charCodeAt(23) !== 90 // Z
  )
    return undefined;
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  // NaN fails every comparison, so a non-digit anywhere falls through to undefined.
  const valid =
    twoDigits(text, 0) >= 0 &&
    twoDigits(text, 2) >= 0 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= 28 &&
    twoDigits(text, 11) <= 23 &&
    twoDigits(text, 14) <= 59 &&
    twoDigits(text, 17) <= 59 &&
    twoDigits(text, 20) >= 0 &&
    text.charCodeAt(22) - 48 >= 0 &&
    text.charCodeAt(22) - 48 <= 9;
  return valid ? text.slice(0, 10) : undefined;
};

/**
 * The UTC day of an event: its own timestamp, else (unreadable, or not a calendar day) the
 * record's; undefined when neither gives one (such an event is refused, never counted).
 */
export const dayOf = (event: AnalyticsEvent, recordTimestamp: number): string | undefined => {
  if (typeof event.timestamp !== 'string') return calendarDay(recordTimestamp);
  return (
    plainIsoDay(event.timestamp) ??
    calendarDay(Date.parse(event.timestamp)) ??
    calendarDay(recordTimestamp)
  );
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

/** One day's share of a batch while it is summed. */
interface DayTally {
  keys: ReturnType<typeof dailyKeys>;
  total: number;
  userActions: number;
  /** Action name -> its counter key and count. */
  actions: Map<string, { key: string; count: number }>;
  actionNames: Set<string> | undefined;
  activeUsers: Set<string> | undefined;
}

/**
 * Aggregates a batch: 100 events of one action on one day become one increment of 100, not
 * 100 increments. Every event counts in total_events; USER_ACTION events also in user_actions
 * and action:{name}; every event with a userId makes that user active that day.
 *
 * Counted per day in plain numbers, each key built and entered once (an action's when the
 * day first has it), not looked up in the counter map by a freshly concatenated name per
 * event; the maps come out the same, in the same order, as adding one event at a time did.
 */
export const aggregateDaily = (
  events: ReadonlyArray<{ event: AnalyticsEvent; recordTimestamp: number }>,
): DailyIncrements => {
  const counters = new Map<string, number>();
  const sets = new Map<string, Set<string>>();
  const days = new Map<string, DayTally>();
  const setOf = (key: string) => {
    const set = new Set<string>();
    sets.set(key, set);
    return set;
  };
  for (const { event, recordTimestamp } of events) {
    const day = dayOf(event, recordTimestamp);
    // Unreachable for records that passed problemOfEvent; never guess a day.
    if (day === undefined)
      throw new ValidationError(
        `event ${event.eventId} has no calendar day; check it with problemOfEvent first`,
      );
    let tally = days.get(day);
    if (tally === undefined) {
      const keys = dailyKeys(day);
      tally = {
        keys,
        total: 0,
        userActions: 0,
        actions: new Map(),
        actionNames: undefined,
        activeUsers: undefined,
      };
      days.set(day, tally);
      // Entered now, counted at the end: the maps keep the order of each key's first event.
      counters.set(keys.totalEvents, 0);
    }
    tally.total += 1;
    if (event.type === 'USER_ACTION') {
      if (tally.userActions === 0) counters.set(tally.keys.userActions, 0);
      tally.userActions += 1;
      const name = event.action;
      if (typeof name === 'string') {
        const action = tally.actions.get(name);
        if (action !== undefined) action.count += 1;
        else if (ACTION_NAME.test(name)) {
          const key = tally.keys.action(name);
          counters.set(key, 0);
          tally.actions.set(name, { key, count: 1 });
          tally.actionNames ??= setOf(tally.keys.actionNames);
          tally.actionNames.add(name);
        }
      }
    }
    if (typeof event.userId === 'string' && event.userId.length > 0) {
      tally.activeUsers ??= setOf(tally.keys.activeUsers);
      tally.activeUsers.add(event.userId);
    }
  }
  for (const tally of days.values()) {
    counters.set(tally.keys.totalEvents, tally.total);
    if (tally.userActions > 0) counters.set(tally.keys.userActions, tally.userActions);
    for (const { key, count } of tally.actions.values()) counters.set(key, count);
  }
  return { counters, sets };
};
