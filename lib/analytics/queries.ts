import { ValidationError } from '../errors.ts';
import { dailyKeys, identifier, RECENT_ACTIVITY_LIMIT, userKeys } from '../keys.ts';
import { requireRedis } from '../redis/service.ts';
import type { StateServices } from '../state-services.ts';
import { isCalendarDate } from './schema.ts';

/**
 * The read side of analytics (daily counters, a user's recent activity), apart from
 * analytics.ts so the functions that only read bundle no Kafka client.
 */

const redisOf = (services: Pick<StateServices, 'redis'>) => requireRedis(services, 'analytics');

export interface DailyStats {
  date: string;
  totalEvents: number;
  userActions: number;
  activeUsers: number;
  /** Each action counted that day, by name; only those with a count above 0. */
  actions: Record<string, number>;
}

/**
 * The counters of one day. An action is listed only while its counter holds a count: a name in
 * the day's `:actions` set whose `action:{name}` key is gone (deleted, or expired apart from the
 * set) or 0 was not counted that day, and listing it as 0 would claim it was.
 * @throws ValidationError unless `date` is a real calendar date (YYYY-MM-DD).
 */
export const getDailyStats = async (
  services: Pick<StateServices, 'redis'>,
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
    actions: Object.fromEntries(
      sorted.flatMap((name, i) => {
        const count = Number(counts[i] ?? 0);
        return count > 0 ? [[name, count]] : [];
      }),
    ),
  };
};

/** The user's recent activity, newest first (at most 50, kept 24 h). */
export const getUserActivity = async (
  services: Pick<StateServices, 'redis'>,
  userId: string,
): Promise<unknown[]> =>
  redisOf(services).client.lrange(
    userKeys(identifier('userId', userId)).recentActivity,
    0,
    RECENT_ACTIVITY_LIMIT - 1,
  );
