import { randomUUID } from 'node:crypto';
import { RedisUnavailableError, ValidationError } from '../errors.ts';
import { sendWithFallback } from '../fallback/messages.ts';
import { dailyKeys, identifier, RECENT_ACTIVITY_LIMIT, TTL, userKeys } from '../keys.ts';
import type { Services } from '../services.ts';
import type { DailyIncrements } from './aggregate.ts';
import { type AnalyticsEvent, isCalendarDate, type TrackedEvent } from './schema.ts';

export const USER_EVENTS_TOPIC = 'user.events';
export const SYSTEM_EVENTS_TOPIC = 'system.events';

const redisOf = (services: Pick<Services, 'redis'>) => {
  if (!services.redis)
    throw new RedisUnavailableError('Redis is not configured; analytics need Redis');
  return services.redis;
};

/**
 * Ingests tracked actions: each becomes a USER_ACTION on `user.events` (keyed by user, so one
 * user's events stay in order), and each user's recent activity keeps the last 50 for 24 h.
 * The Kafka send is one batch and the activity lists one pipeline, whatever the count.
 */
export const trackEvents = async (
  services: Pick<Services, 'redis' | 'kafka'>,
  tracked: TrackedEvent[],
  correlationId: string,
): Promise<{ accepted: number; path: 'kafka' | 'fallback' }> => {
  const redis = redisOf(services);
  const timestamp = new Date().toISOString();
  const events: AnalyticsEvent[] = tracked.map(({ userId, action, data }) => ({
    eventId: randomUUID(),
    type: 'USER_ACTION',
    userId,
    action,
    ...(data === undefined ? {} : { data }),
    timestamp,
  }));
  const outcome = await sendWithFallback(
    services,
    USER_EVENTS_TOPIC,
    events.map((event) => ({ value: event, key: event.userId })),
    { correlationId },
  );
  const pipeline = redis.client.pipeline();
  const byUser = new Map<string, AnalyticsEvent[]>();
  for (const event of events) {
    const userId = event.userId as string;
    byUser.set(userId, [...(byUser.get(userId) ?? []), event]);
  }
  for (const [userId, userEvents] of byUser) {
    const list = userKeys(userId).recentActivity;
    pipeline.lpush(
      list,
      ...userEvents.map(({ eventId, action, data, timestamp: at }) => ({
        eventId,
        action,
        data,
        timestamp: at,
      })),
    );
    pipeline.ltrim(list, 0, RECENT_ACTIVITY_LIMIT - 1);
    pipeline.expire(list, TTL.recentActivity);
  }
  await pipeline.exec();
  return { accepted: events.length, path: outcome.path };
};

/**
 * Applies a batch's increments in ONE pipeline (one HTTP request): INCRBY per counter, SADD
 * per set, and an EXPIRE on each key so daily data does not live forever.
 */
export const applyDailyIncrements = async (
  services: Pick<Services, 'redis'>,
  { counters, sets }: DailyIncrements,
): Promise<number> => {
  if (counters.size === 0 && sets.size === 0) return 0;
  const pipeline = redisOf(services).client.pipeline();
  for (const [key, amount] of counters) pipeline.incrby(key, amount).expire(key, TTL.dailyStats);
  for (const [key, members] of sets) {
    const [first, ...rest] = members;
    if (first !== undefined) pipeline.sadd(key, first, ...rest).expire(key, TTL.dailyStats);
  }
  return (await pipeline.exec()).length;
};

export interface DailyStats {
  date: string;
  totalEvents: number;
  userActions: number;
  activeUsers: number;
  actions: Record<string, number>;
}

/**
 * The counters of one day.
 * @throws ValidationError unless `date` is a real calendar date (YYYY-MM-DD).
 */
export const getDailyStats = async (
  services: Pick<Services, 'redis'>,
  date: string,
): Promise<DailyStats> => {
  if (!isCalendarDate(date))
    throw new ValidationError(
      `date must be a calendar date written YYYY-MM-DD (got ${JSON.stringify(date.slice(0, 40))})`,
    );
  const client = redisOf(services).client;
  const keys = dailyKeys(date);
  const [total, userActions, activeUsers, names] = await client
    .pipeline()
    .get<number>(keys.totalEvents)
    .get<number>(keys.userActions)
    .scard(keys.activeUsers)
    .smembers(keys.actionNames)
    .exec<[number | null, number | null, number, string[]]>();
  const sorted = [...names].map(String).sort();
  const counts =
    sorted.length > 0
      ? await client.mget<(number | null)[]>(...sorted.map((name) => keys.action(name)))
      : [];
  return {
    date,
    totalEvents: Number(total ?? 0),
    userActions: Number(userActions ?? 0),
    activeUsers,
    actions: Object.fromEntries(sorted.map((name, i) => [name, Number(counts[i] ?? 0)])),
  };
};

/** The user's recent activity, newest first (at most 50, kept 24 h). */
export const getUserActivity = async (
  services: Pick<Services, 'redis'>,
  userId: string,
): Promise<unknown[]> =>
  redisOf(services).client.lrange(
    userKeys(identifier('userId', userId)).recentActivity,
    0,
    RECENT_ACTIVITY_LIMIT - 1,
  );
