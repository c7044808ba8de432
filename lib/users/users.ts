import * as z from 'zod';
import { SESSION_ID } from '../auth/credentials.ts';
import { cacheWithFallback, getWithFallback } from '../fallback/cache.ts';
import { identifier, sessionKey, TTL, userKeys } from '../keys.ts';
import type { Services } from '../services.ts';
import type { UserSource } from './user-source.ts';

export interface CachedProfile {
  profile: Record<string, unknown>;
  /** hit: served from the cache, no upstream call; miss: fetched and cached. */
  cache: 'hit' | 'miss';
  source: 'redis' | 'memory';
}

/**
 * Cache-aside over the user source: a cached profile is served without any upstream call;
 * a miss fetches it and caches it for 10 minutes (in memory while Redis is down).
 */
export const getUserProfile = async (
  services: Pick<Services, 'redis' | 'memory'>,
  userId: string,
  source: UserSource,
): Promise<CachedProfile> => {
  const key = userKeys(identifier('userId', userId)).profile;
  const cached = await getWithFallback<Record<string, unknown>>(services, key);
  if (cached.value !== null) return { profile: cached.value, cache: 'hit', source: cached.source };
  const profile = await source(userId);
  const stored = await cacheWithFallback(services, key, profile, TTL.userProfile);
  return { profile, cache: 'miss', source: stored };
};

const userUpdated = z.object({ type: z.literal('USER_UPDATED'), userId: z.string() });
const userLoggedIn = z.object({
  type: z.literal('USER_LOGGED_IN'),
  userId: z.string(),
  // Only ids the authorizer would accept: a session stored under any other id could never
  // be used, so such an event is refused (and dead-lettered) instead of stored.
  sessionId: z.string().regex(SESSION_ID, 'must be 16-128 characters of A-Z a-z 0-9 _ . @ + -'),
  timestamp: z.string().optional(),
});

export type UserEventEffect = 'invalidated' | 'session-stored' | 'ignored';

/**
 * The user-cache side of a `user.events` value: USER_UPDATED drops the cached profile and
 * preferences; USER_LOGGED_IN stores the session (EX 3600); anything else is ignored.
 * Idempotent: applying an event twice leaves the same state.
 * @throws ValidationError when a USER_* event lacks its fields or has unsafe ids.
 */
export const applyUserEvent = async (
  services: Pick<Services, 'redis'>,
  value: unknown,
): Promise<UserEventEffect> => {
  const type = (value as { type?: unknown } | null)?.type;
  if (type === 'USER_UPDATED') {
    const event = userUpdated.parse(value);
    const keys = userKeys(identifier('userId', event.userId));
    await services.redis?.del(keys.profile, keys.preferences);
    return 'invalidated';
  }
  if (type === 'USER_LOGGED_IN') {
    const event = userLoggedIn.parse(value);
    const session = {
      userId: identifier('userId', event.userId),
      createdAt: event.timestamp ?? new Date().toISOString(),
    };
    await services.redis?.set(sessionKey(identifier('sessionId', event.sessionId)), session, {
      EX: TTL.session,
    });
    return 'session-stored';
  }
  return 'ignored';
};
