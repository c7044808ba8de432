import { ValidationError } from './errors.ts';

/**
 * The Redis key names of the Narad design (the seed's names, kept). Every identifier that
 * becomes part of a key is validated first, so a client can never address another key space
 * (`:`), match patterns (`*`) or make a key unreadable (whitespace, control characters).
 */

const IDENTIFIER = /^[A-Za-z0-9_.@+-]{1,128}$/;
const IDENTIFIER_CHAR = /^[A-Za-z0-9_.@+-]$/;
export const MAX_IDENTIFIER_LENGTH = 128;

/** What is wrong with a value `identifier` refuses, for the message (the value is never echoed whole). */
const identifierProblem = (value: unknown): string => {
  if (typeof value !== 'string') return `got ${value === null ? 'null' : typeof value}`;
  if (value.length === 0) return 'got an empty value';
  if (value.length > MAX_IDENTIFIER_LENGTH) return `got ${value.length} characters`;
  const chars = [...value];
  const at = chars.findIndex((char) => !IDENTIFIER_CHAR.test(char));
  return `got ${JSON.stringify(chars[at])} at position ${at + 1}`;
};

/** True for a value `identifier` accepts (one that can be part of a key). */
export const isIdentifier = (value: unknown): value is string =>
  typeof value === 'string' && IDENTIFIER.test(value);

/**
 * @returns the identifier unchanged.
 * @throws ValidationError naming the field, what is allowed and what was wrong.
 */
export const identifier = (field: string, value: unknown): string => {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new ValidationError(
      `${field} must be 1-${MAX_IDENTIFIER_LENGTH} characters of A-Z a-z 0-9 _ . @ + - (no ':', '*' or spaces); ${identifierProblem(value)}`,
    );
  }
  return value;
};

export const orderKeys = (orderId: string) => ({
  processing: `order:${orderId}:processing`,
  result: `order:${orderId}:result`,
  error: `order:${orderId}:error`,
  /** How many times processing of the order started (1 unless a run failed and was retried). */
  attempts: `order:${orderId}:attempts`,
  /**
   * The order's status for as long as its event can come back (TTL.orderState): what GET
   * answers once the design's keys above expired, and the mark that it was processed once.
   */
  state: `order:${orderId}:state`,
});

export const userKeys = (userId: string) => ({
  profile: `user:${userId}:profile`,
  preferences: `user:${userId}:preferences`,
  recentActivity: `user:${userId}:recent_activity`,
});

export const sessionKey = (sessionId: string): string => `session:${sessionId}`;

export const idempotencyKey = (scope: string, key: string): string => `idempotency:${scope}:${key}`;

/**
 * A user's Idempotency-Key for POST /orders: scoped by the user, so another user's same key is
 * another claim (and never reveals this one's answer). Both parts are identifiers (no ':').
 */
export const orderIdempotencyKey = (userId: string, key: string): string =>
  idempotencyKey('orders', `${userId}:${key}`);

export const dailyKeys = (date: string) => ({
  totalEvents: `analytics:daily:${date}:total_events`,
  userActions: `analytics:daily:${date}:user_actions`,
  action: (name: string) => `analytics:daily:${date}:action:${name}`,
  actionNames: `analytics:daily:${date}:actions`,
  activeUsers: `analytics:daily:${date}:active_users`,
});

/**
 * What analytics keeps to count an event once by its eventId (lib/analytics/dedup.ts): the
 * event ids it counted in 5 minutes (of the consumer's clock), and the hold on one event id
 * that a copy of it may come again.
 */
export const analyticsDedupKeys = {
  /** `minute`, the first of the 5, as YYYY-MM-DDTHH:MM (UTC). */
  recent: (minute: string) => `analytics:recent:${minute}`,
  hold: (eventId: string) => `analytics:event:${eventId}`,
};

/** TTLs in seconds, as the design sets them. */
export const TTL = {
  orderPending: 300,
  orderProcessing: 600,
  orderResult: 3600,
  orderError: 86_400,
  /**
   * An order's state and done-mark: as long as its event can come back. MSK keeps a topic 7 days
   * by default, and a dead letter replayed from `<topic>.dlq` (7 days too) adds another 7; one day
   * on top. A replay older than that is processed as a new order.
   */
  orderState: 15 * 86_400,
  userProfile: 600,
  session: 3600,
  recentActivity: 86_400,
  idempotency: 86_400,
  dailyStats: 90 * 86_400,
} as const;

export const RECENT_ACTIVITY_LIMIT = 50;
