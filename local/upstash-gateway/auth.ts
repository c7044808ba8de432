import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

const BEARER_PREFIX = /^bearer /i;

/**
 * Builds the check for `Authorization: Bearer <token>` headers.
 *
 * Returns a function that answers true only for the exact token. Both sides are hashed first so
 * the comparison is constant-time and does not leak the token's length either.
 * Throws when `token` is empty, because an empty token would let every request in.
 */
export const createBearerCheck = (
  token: string,
): ((authorization: string | undefined) => boolean) => {
  if (token.length === 0) {
    throw new Error(
      'the gateway token is empty; set UPSTASH_REDIS_REST_TOKEN to a non-empty value',
    );
  }
  const expected = digest(token);
  return (authorization) => {
    if (authorization === undefined || !BEARER_PREFIX.test(authorization)) return false;
    return timingSafeEqual(digest(authorization.slice(7).trim()), expected);
  };
};
