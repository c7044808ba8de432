import { ForbiddenError } from '../errors.ts';
import type { Principal } from './principal.ts';

/**
 * The access rules of the HTTP API, one function per rule (docs/security.md has the table).
 * `anonymous` (AUTH_MODE=none, development only) passes every rule.
 */

/**
 * POST /orders, GET /users/{userId}, GET /users/{userId}/activity: a user acts and reads only
 * as themself; these routes are not the service key's.
 * @throws ForbiddenError (403) for another user or for the service.
 */
export const requireSelf = (principal: Principal, userId: string, field = 'userId'): void => {
  if (principal.kind === 'anonymous') return;
  if (principal.kind === 'service') {
    throw new ForbiddenError('This route is for user sessions; the service key cannot call it');
  }
  if (principal.userId !== userId) {
    throw new ForbiddenError(`${field} must be the signed-in user's own (the session's user)`);
  }
};

/**
 * POST /analytics/events: a session may track events of its own user only; the service key may
 * track events of any user.
 * @throws ForbiddenError (403) naming the first event of another user.
 */
export const requireEventsOf = (principal: Principal, userIds: readonly string[]): void => {
  if (principal.kind !== 'user') return;
  const other = userIds.findIndex((userId) => userId !== principal.userId);
  if (other === -1) return;
  const where = userIds.length === 1 ? 'userId' : `events.${other}.userId`;
  throw new ForbiddenError(
    `${where} must be the signed-in user's own; a session tracks events of its user only`,
  );
};

/**
 * GET /orders/{orderId}: a resource is visible to its owner only. For anyone else it does not
 * exist: `notFound` is the very error an unknown id gets, so ids cannot be probed.
 * @throws the result of `notFound` (a 404) when `ownerId` is not the signed-in user.
 */
export const requireOwner = (
  principal: Principal,
  ownerId: unknown,
  notFound: () => Error,
): void => {
  if (principal.kind === 'anonymous') return;
  if (principal.kind === 'user' && ownerId === principal.userId) return;
  throw notFound();
};
