import { SESSION_ID } from '../auth/credentials.ts';
import { MAX_CLOCK_SKEW_MS, type StoredSession } from '../auth/sessions.ts';
import { ValidationError } from '../errors.ts';
import { cacheWithFallback, getWithFallback } from '../fallback/cache.ts';
import { identifier, sessionKey, TTL, userKeys } from '../keys.ts';
import { recordMetric } from '../metrics.ts';
import type { Services } from '../services.ts';
import * as z from '../zod.ts';
import type { UserSource } from './user-source.ts';

export interface CachedProfile {
  profile: Record<string, unknown>;
  /** hit: served from the cache, no upstream call; miss: fetched and cached. */
  cache: 'hit' | 'miss';
  source: 'redis' | 'memory';
}

/** A cached profile's JSON text as an object; null for anything else (read as a miss). */
const profileOf = (text: string | null): Record<string, unknown> | null => {
  if (text === null) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
};

/**
 * The design's `getCachedUser`: cache-aside over the user source. A cached profile is served
 * without any upstream call; a miss fetches it and caches its JSON text for 10 minutes
 * (`user:{id}:profile`, EX 600; in memory while Redis is down).
 */
export const getUserProfile = async (
  services: Pick<Services, 'redis' | 'memory'>,
  userId: string,
  source: UserSource,
): Promise<CachedProfile> => {
  const key = userKeys(identifier('userId', userId)).profile;
  const cached = await getWithFallback(services, key);
  const profile = profileOf(cached.value);
  if (profile !== null) {
    recordMetric('CacheHits');
    return { profile, cache: 'hit', source: cached.source };
  }
  recordMetric('CacheMisses');
  const fetched = await source(userId);
  const stored = await cacheWithFallback(services, key, JSON.stringify(fetched), TTL.userProfile);
  return { profile: fetched, cache: 'miss', source: stored };
};

/** The most `sessionData` one login may carry, as JSON text. */
export const MAX_SESSION_DATA_BYTES = 4 * 1024;

/** The furthest a JavaScript Date reaches from the epoch, either way (ECMA-262). */
const MAX_DATE_MS = 8.64e15;

/** An ISO 8601 date-time or epoch milliseconds (the design uses both), as epoch milliseconds. */
const loginTime = z.pipe(
  z.union([z.string(), z.number()], {
    error: 'is required: the time of the login, ISO 8601 or epoch milliseconds',
  }),
  z.transform((value: string | number, payload) => {
    const at = typeof value === 'number' ? value : Date.parse(value);
    // Beyond ±8.64e15 ms no Date exists: the session's createdAt could not be written.
    if (!Number.isFinite(at) || Math.abs(at) > MAX_DATE_MS) {
      payload.issues.push({
        code: 'custom',
        message: 'must be an ISO 8601 date-time or epoch milliseconds',
        input: value,
      });
      return z.NEVER;
    }
    return at;
  }),
);

const userUpdated = z.object({ type: z.literal('USER_UPDATED'), userId: z.string() });
const userLoggedIn = z.object({
  type: z.literal('USER_LOGGED_IN'),
  userId: z.string(),
  // Only ids the authorizer would accept: a session stored under any other id could never
  // be used, so such an event is refused (and dead-lettered) instead of stored.
  sessionId: z
    .string()
    .check(z.regex(SESSION_ID, 'must be 16-128 characters of A-Z a-z 0-9 _ . @ + -')),
  timestamp: loginTime,
  sessionData: z.optional(
    z
      .record(z.string(), z.unknown(), { error: 'must be an object' })
      .check(
        z.refine(
          (data) => Buffer.byteLength(JSON.stringify(data)) <= MAX_SESSION_DATA_BYTES,
          `must be at most ${MAX_SESSION_DATA_BYTES} bytes of JSON`,
        ),
      ),
  ),
});

/**
 * The session a USER_LOGGED_IN event at `now` stores: its value, and how long it has left to
 * live, counted from the login, not from when the event arrived; `ttlSeconds` is 0 or less for
 * a login older than a session lives (a replay of `user.events`).
 * @throws ValidationError for a login more than MAX_CLOCK_SKEW_MS in the future.
 */
export const sessionOf = (
  event: z.infer<typeof userLoggedIn>,
  now: number,
): { session: StoredSession; ttlSeconds: number } => {
  const ahead = event.timestamp - now;
  if (ahead > MAX_CLOCK_SKEW_MS) {
    throw new ValidationError(
      `USER_LOGGED_IN timestamp is ${Math.round(ahead / 1000)} s in the future (at most ${MAX_CLOCK_SKEW_MS / 1000} s of clock skew is allowed); check the login service's clock`,
    );
  }
  const session: StoredSession = {
    userId: identifier('userId', event.userId),
    createdAt: new Date(event.timestamp).toISOString(),
    ...(event.sessionData === undefined ? {} : { sessionData: event.sessionData }),
  };
  const leftMs = event.timestamp + TTL.session * 1000 - now;
  return { session, ttlSeconds: Math.min(TTL.session, Math.floor(leftMs / 1000)) };
};

/**
 * What one `user.events` value does to the user cache, decided before anything is sent:
 * `invalidated` deletes `keys`, `session-stored` stores `session` (JSON text) at `key` for
 * `ttlSeconds`, `session-expired` and `ignored` change nothing, and `refused` is a USER_* event
 * that can never be applied, for `problem` (it is dead-lettered).
 */
export type UserEventPlan =
  | { effect: 'invalidated'; keys: [string, string] }
  | { effect: 'session-stored'; key: string; session: string; ttlSeconds: number }
  | { effect: 'session-expired' | 'ignored' }
  | { effect: 'refused'; problem: string };

/**
 * The user-cache side of a `user.events` value at `now` (the design's EventDrivenCache):
 * USER_UPDATED drops the cached profile and preferences; USER_LOGGED_IN stores the session
 * with the event's `sessionData` at `session:{sessionId}`, living one hour from the login
 * (EX 3600 for a login that just happened), so a login replayed after its hour stores nothing;
 * anything else is ignored. Refused: a USER_* event that lacks its fields, has unsafe ids, too
 * much sessionData, or a login time in the future, with the message of the zod or
 * ValidationError that says so. Parses the value once; sends nothing (user-events.ts does).
 */
export const planUserEvent = (value: unknown, now: number): UserEventPlan => {
  const type = (value as { type?: unknown } | null)?.type;
  try {
    if (type === 'USER_UPDATED') {
      const parsed = z.safeParse(userUpdated, value);
      if (!parsed.success) return { effect: 'refused', problem: parsed.error.message };
      const keys = userKeys(identifier('userId', parsed.data.userId));
      return { effect: 'invalidated', keys: [keys.profile, keys.preferences] };
    }
    if (type === 'USER_LOGGED_IN') {
      const parsed = z.safeParse(userLoggedIn, value);
      if (!parsed.success) return { effect: 'refused', problem: parsed.error.message };
      const key = sessionKey(identifier('sessionId', parsed.data.sessionId));
      const { session, ttlSeconds } = sessionOf(parsed.data, now);
      if (ttlSeconds <= 0) return { effect: 'session-expired' };
      return { effect: 'session-stored', key, session: JSON.stringify(session), ttlSeconds };
    }
  } catch (error) {
    // identifier() and sessionOf() refuse with a ValidationError; anything else is a bug.
    if (error instanceof ValidationError) return { effect: 'refused', problem: error.message };
    throw error;
  }
  return { effect: 'ignored' };
};
