import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { credentialsOf, isServiceKey, SESSION_ID } from '../../lib/auth/credentials.ts';
import { identifier, sessionKey } from '../../lib/keys.ts';

/**
 * Property-based tests of the credential parser the authorizer runs on every request: whatever
 * a client sends in Authorization and x-api-key, it answers a kind and never throws; a session
 * id it lets through is always one that can become part of a Redis key; a problem it describes
 * never repeats the credential.
 */

const RUNS = { numRuns: 1_000 };

const tokens = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.stringMatching(/^[A-Za-z0-9_.@+-]{0,140}$/),
  fc.constantFrom('', ' ', ':', '*', 'session:other', 'a'.repeat(16), 'a'.repeat(129)),
);

const authorizations = fc.oneof(
  tokens.map((token) => `Bearer ${token}`),
  tokens.map((token) => `bearer  ${token} `),
  tokens.map((token) => `Basic ${token}`),
  tokens,
);

describe('credentialsOf', () => {
  it('answers a kind for any headers, and lets through only key-safe session ids', () => {
    fc.assert(
      fc.property(
        fc.option(authorizations, { nil: undefined }),
        fc.option(fc.string(), { nil: undefined }),
        (authorization, apiKey) => {
          const headers = {
            ...(authorization === undefined ? {} : { authorization }),
            ...(apiKey === undefined ? {} : { 'x-api-key': apiKey }),
          };
          const credentials = credentialsOf(headers);
          if (credentials.kind === 'session') {
            expect(credentials.sessionId).toMatch(SESSION_ID);
            expect(identifier('sessionId', credentials.sessionId)).toBe(credentials.sessionId);
            expect(sessionKey(credentials.sessionId).split(':')).toHaveLength(2);
          }
          if (credentials.kind === 'malformed' && authorization && authorization.length > 20) {
            expect(credentials.problem).not.toContain(authorization.trim());
          }
          if (authorization === undefined && apiKey === undefined) {
            expect(credentials.kind).toBe('none');
          }
        },
      ),
      RUNS,
    );
  });

  it('accepts exactly the key only, however close the guess', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[\x21-\x7e]{32,64}$/), fc.string(), (key, guess) => {
        expect(isServiceKey(key, guess)).toBe(guess === key);
        expect(isServiceKey(key, key)).toBe(true);
      }),
      RUNS,
    );
  });
});
