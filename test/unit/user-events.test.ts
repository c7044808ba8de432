import { describe, expect, it } from 'vitest';
import { isPermanentFailure } from '../../lib/kafka/dead-letters.ts';
import { applyUserEvent } from '../../lib/users/users.ts';

const noRedis = { redis: undefined };

describe('a USER_LOGGED_IN event', () => {
  it('is refused, for good (dead-lettered, not retried), when its session id could never sign in', async () => {
    const error = await applyUserEvent(noRedis, {
      type: 'USER_LOGGED_IN',
      userId: 'user-42',
      sessionId: 'short',
    }).catch((caught: unknown) => caught);

    expect(String(error)).toMatch(/sessionId.*16-128 characters/s);
    expect(isPermanentFailure(error)).toBe(true);
  });

  it('stores a session whose id the authorizer accepts', async () => {
    await expect(
      applyUserEvent(noRedis, {
        type: 'USER_LOGGED_IN',
        userId: 'user-42',
        sessionId: 'sess_3JfQ9wz1Yv8Lk2Pm',
      }),
    ).resolves.toBe('session-stored');
  });
});
