import * as z from 'zod';
import { sessionKey, TTL } from '../keys.ts';
import type { RedisService } from '../redis/service.ts';

/** What userCacheEvents stores at `session:{sessionId}` (lib/users/users.ts), EX 3600. */
const storedSession = z.object({
  userId: z.string().regex(/^[A-Za-z0-9_.@+-]{1,128}$/),
  createdAt: z.string(),
});

export type SessionLookup =
  | { status: 'valid'; userId: string }
  /** No such key: never issued, or its TTL ran out. */
  | { status: 'unknown' }
  /** The key is there but the login is older than a session lives (a replayed USER_LOGGED_IN). */
  | { status: 'expired' }
  /** The key holds something that is not a session: refused rather than guessed at. */
  | { status: 'malformed' };

/** How long a session lives after its login, as userCacheEvents sets its TTL. */
export const SESSION_LIFETIME_MS = TTL.session * 1000;

/**
 * The session behind `sessionId` (already checked against SESSION_ID). A key that outlived its
 * login by more than the session lifetime counts as expired: a USER_LOGGED_IN event replayed
 * from the topic stores the session again with a fresh TTL but its original timestamp.
 * @throws RedisUnavailableError / RedisCommandError when Redis cannot answer.
 */
export const lookUpSession = async (
  redis: Pick<RedisService, 'get'>,
  sessionId: string,
  now: number = Date.now(),
): Promise<SessionLookup> => {
  const stored = await redis.get<unknown>(sessionKey(sessionId));
  if (stored === null) return { status: 'unknown' };
  const parsed = storedSession.safeParse(stored);
  if (!parsed.success) return { status: 'malformed' };
  const createdAt = Date.parse(parsed.data.createdAt);
  if (Number.isNaN(createdAt)) return { status: 'malformed' };
  if (now - createdAt > SESSION_LIFETIME_MS) return { status: 'expired' };
  return { status: 'valid', userId: parsed.data.userId };
};
