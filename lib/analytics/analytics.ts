import { createHash, randomUUID } from 'node:crypto';
import { RedisCommandError } from '../errors.ts';
import { sendWithFallback } from '../fallback/messages.ts';
import { RECENT_ACTIVITY_LIMIT, TTL, userKeys } from '../keys.ts';
import { loggableError, logger } from '../log.ts';
import { classifyRedisError } from '../redis/errors.ts';
import { runScript } from '../redis/scripts.ts';
import { requireRedis } from '../redis/service.ts';
import type { Services } from '../services.ts';
import { USER_EVENTS_TOPIC } from '../topics.ts';
import { aggregateDaily } from './aggregate.ts';
import {
  APPLY_ANALYTICS_BATCH,
  decodeVerdicts,
  encodeBatch,
  type PartitionIncrements,
} from './batch-script.ts';
import type { AnalyticsEvent, TrackedEvent } from './schema.ts';

export { SYSTEM_EVENTS_TOPIC, USER_EVENTS_TOPIC } from '../topics.ts';

const redisOf = (services: Pick<Services, 'redis'>) => requireRedis(services, 'analytics');

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
  // The events are accepted once they are in Kafka (or its fallback list): failing the request
  // now would make the caller retry and count them twice. The activity list is a convenience
  // view, so losing its update to a Redis outage is logged, not returned.
  await pipeline.exec().catch((error: unknown) =>
    logger.warn('recent activity not recorded; the events themselves were accepted', {
      events: events.length,
      error: loggableError(classifyRedisError(error)),
    }),
  );
  return { accepted: events.length, path: outcome.path };
};

/**
 * The key holding the offset a topic-partition's analytics are applied through. Offsets count
 * within one log, so the key names the cluster too (a short hash of its ARN or brokers): a new
 * cluster starts its own. One key per partition, so tiny; it lives 8 days after its last
 * write: longer than a topic's retention (MSK's default is 7 days), so even a mapping
 * recreated at TRIM_HORIZON, which replays the whole retention, is recognised as a redelivery.
 */
export const appliedOffsetKey = (cluster: string, topic: string, partition: number): string =>
  `analytics:applied:${createHash('sha1').update(cluster).digest('hex').slice(0, 12)}:${topic}:${partition}`;
export const APPLIED_OFFSET_TTL_SECONDS = 8 * 86_400;

/** Requests per batch before giving up on a partition whose applied offset keeps moving. */
const MAX_ROUNDS = 3;

/** One partition's events of a batch, in offset order. */
export interface AnalyticsSlice {
  /** The Kafka log the offsets count in (cluster ARN or bootstrap servers). */
  cluster: string;
  topic: string;
  partition: number;
  /** The offsets the slice covers, records that were not events (dead-lettered) included. */
  firstOffset: number;
  lastOffset: number;
  events: Array<{ offset: number; event: AnalyticsEvent; recordTimestamp: number }>;
}

export interface AppliedBatch {
  /** `<topic>-<partition>:<first>-<last>` of the ranges counted now. */
  applied: string[];
  /** Ranges that had been counted already (a redelivery): nothing changed for them. */
  alreadyApplied: string[];
  /** Redis requests it took: 1, or 2 when a redelivery overlapped what was applied. */
  requests: number;
}

const rangeOf = ({ topic, partition, firstOffset, lastOffset }: AnalyticsSlice) =>
  `${topic}-${partition}:${firstOffset}-${lastOffset}`;

/**
 * Counts a batch exactly once per record: each partition's increments and its applied offset
 * in ONE atomic script, all partitions in ONE request. Records at or below a partition's
 * applied offset (a redelivery, whole or overlapping) change nothing; when a batch overlaps
 * the applied offset, the records after it are counted in a second request.
 * @throws RedisUnavailableError / RedisCommandError when Redis fails (nothing or all of a
 *   partition was applied: the retry is safe).
 */
export const applyAnalyticsBatch = async (
  services: Pick<Services, 'redis'>,
  slices: readonly AnalyticsSlice[],
): Promise<AppliedBatch> => {
  const client = redisOf(services).client;
  const outcome: AppliedBatch = { applied: [], alreadyApplied: [], requests: 0 };
  let pending = slices.filter((slice) => slice.events.length > 0);
  while (pending.length > 0) {
    if (outcome.requests === MAX_ROUNDS) {
      throw new RedisCommandError(
        `the applied offset of ${pending.map(rangeOf).join(', ')} kept moving during the batch: is a second consumer applying the same partitions?`,
      );
    }
    const parts: PartitionIncrements[] = pending.map((slice) => ({
      appliedKey: appliedOffsetKey(slice.cluster, slice.topic, slice.partition),
      firstOffset: slice.firstOffset,
      lastOffset: slice.lastOffset,
      increments: aggregateDaily(slice.events),
    }));
    const { keys, args } = encodeBatch(parts, {
      data: TTL.dailyStats,
      applied: APPLIED_OFFSET_TTL_SECONDS,
    });
    let reply: unknown;
    try {
      reply = await runScript(client, APPLY_ANALYTICS_BATCH, keys, args);
    } catch (error) {
      throw classifyRedisError(error);
    }
    outcome.requests += 1;
    const next: AnalyticsSlice[] = [];
    decodeVerdicts(reply, parts.length).forEach((verdict, i) => {
      const slice = pending[i] as AnalyticsSlice;
      if (verdict.status === 'applied') outcome.applied.push(rangeOf(slice));
      else if (verdict.status === 'already-applied') outcome.alreadyApplied.push(rangeOf(slice));
      else {
        const rest = slice.events.filter(({ offset }) => offset > verdict.appliedThrough);
        const done = { ...slice, lastOffset: verdict.appliedThrough };
        outcome.alreadyApplied.push(rangeOf(done));
        const [first] = rest;
        if (first) next.push({ ...slice, firstOffset: first.offset, events: rest });
      }
    });
    pending = next;
  }
  return outcome;
};
