import { errors } from '@upstash/redis';
import { describe, expect, it } from 'vitest';
import { ForbiddenError, RedisCommandError, RedisUnavailableError } from '../../lib/errors.ts';
import { classifyUpstashFailure } from '../../lib/redis/errors.ts';

// What an HTTP handler makes of a failure of the raw @upstash/redis client (lib/lambda/http.ts
// classifies every thrown error through it before choosing the status).

describe('a failure of the raw Upstash client', () => {
  it('is a refused command when Upstash answered an error, without the command it quotes', () => {
    const refused = new errors.UpstashError(
      'WRONGTYPE Operation against a key, command was: ["get","secret"]',
    );

    const classified = classifyUpstashFailure(refused);

    expect(classified).toBeInstanceOf(RedisCommandError);
    expect((classified as Error).message).not.toContain('secret');
  });

  it('is an unreachable Redis for a timeout, an abort or a failed fetch', () => {
    const timeout = Object.assign(new Error('The operation timed out'), { name: 'TimeoutError' });
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    const fetchFailed = new TypeError('fetch failed');

    for (const failure of [timeout, abort, fetchFailed]) {
      expect(classifyUpstashFailure(failure)).toBeInstanceOf(RedisUnavailableError);
    }
  });

  it('leaves our own errors and anything else as they are', () => {
    const ours = new ForbiddenError('not yours');
    const other = new RangeError('a bug');

    expect(classifyUpstashFailure(ours)).toBe(ours);
    expect(classifyUpstashFailure(other)).toBe(other);
    expect(classifyUpstashFailure('a string')).toBe('a string');
  });
});
