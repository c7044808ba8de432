import { createHash, timingSafeEqual } from 'node:crypto';
import { headerOf } from '../lambda/headers.ts';

/**
 * What a request presents to prove who it is. Session ids come from the login service through
 * USER_LOGGED_IN events; they are opaque, so they are only checked for the shape a Redis key
 * may hold before one is looked up.
 */
export type Credentials =
  | { kind: 'session'; sessionId: string }
  | { kind: 'service-key'; key: string }
  | { kind: 'none' }
  | { kind: 'malformed'; problem: string };

/** Session ids: 16-128 characters of the key-safe identifier set (lib/keys.ts), nothing shorter. */
export const SESSION_ID = /^[A-Za-z0-9_.@+-]{16,128}$/;

const BEARER = /^Bearer +(\S+) *$/i;

/**
 * The credentials of a request: `Authorization: Bearer <session id>` when that header is sent
 * (it wins: the authorizer's cache is keyed by it alone, so nothing else may change the
 * answer), else `x-api-key`. Problems are described without echoing the value.
 */
export const credentialsOf = (
  headers: Record<string, string | undefined> | null | undefined,
): Credentials => {
  const authorization = headerOf(headers, 'authorization');
  if (authorization !== undefined) {
    const token = BEARER.exec(authorization)?.[1];
    if (token === undefined) {
      return { kind: 'malformed', problem: 'Authorization is not "Bearer <session id>"' };
    }
    if (!SESSION_ID.test(token)) {
      return {
        kind: 'malformed',
        problem: `the session id is not 16-128 characters of A-Z a-z 0-9 _ . @ + - (got ${token.length} characters)`,
      };
    }
    return { kind: 'session', sessionId: token };
  }
  const key = headerOf(headers, 'x-api-key');
  if (key !== undefined) return { kind: 'service-key', key };
  return { kind: 'none' };
};

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * True when `presented` is the service API key. Both sides are hashed first so the comparison
 * runs on equal-length digests in constant time: neither the key's length nor how many of its
 * leading characters match can be learned from the time it takes. False when no key is set.
 */
export const isServiceKey = (expected: string | undefined, presented: string): boolean =>
  expected !== undefined && timingSafeEqual(digest(expected), digest(presented));
