import { sessionKey, TTL } from '../keys.ts';
import type { RedisService } from '../redis/service.ts';
import * as z from '../zod.ts';

/**
 * What userCacheEvents stores at `session:{sessionId}` (lib/users/users.ts), living one hour
 * from the login: the user, the login time, and the event's `sessionData` as it came.
 */
export interface StoredSession {
  userId: string;
  /** The login's time (the event's timestamp), ISO 8601. */
  createdAt: string;
  sessionData?: Record<string, unknown>;
}

const storedSession = z.object({
  userId: z.string().check(z.regex(/^[A-Za-z0-9_.@+-]{1,128}$/)),
  createdAt: z.string(),
});

export type SessionLookup =
  | { status: 'valid'; userId: string }
  /** No such key: never issued, or its TTL ran out. */
  | { status: 'unknown' }
  /** The key is there but the login is older than a session lives. */
  | { status: 'expired' }
  /** The key holds something that is not a session: refused rather than guessed at. */
  | { status: 'malformed' };

/** How long a session lives after its login, as userCacheEvents sets its TTL. */
export const SESSION_LIFETIME_MS = TTL.session * 1000;

/**
 * How far ahead of this clock a login's timestamp may be: a login service whose clock runs a
 * little fast still signs users in; one further ahead would make sessions outlive their hour.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

const parsedJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/**
 * The session behind `sessionId` (already checked against SESSION_ID). userCacheEvents lets a
 * key live only as long as its login has left, so a key older than that is not expected; one
 * is still refused as expired (a key written by hand, or by an older version that counted the
 * hour from when the event arrived).
 * @throws RedisUnavailableError / RedisCommandError when Redis cannot answer.
 */
export const lookUpSession = async (
  redis: Pick<RedisService, 'get'>,
  sessionId: string,
  now: number = Date.now(),
): Promise<SessionLookup> => {
  const stored = await redis.get(sessionKey(sessionId));
  if (stored === null) return { status: 'unknown' };
  const parsed = storedSession.safeParse(parsedJson(stored));
  if (!parsed.success) return { status: 'malformed' };
  const createdAt = Date.parse(parsed.data.createdAt);
  if (Number.isNaN(createdAt)) return { status: 'malformed' };
  if (now - createdAt > SESSION_LIFETIME_MS) return { status: 'expired' };
  return { status: 'valid', userId: parsed.data.userId };
};
