import { createHash, randomUUID } from 'node:crypto';
import { RedisCommandError } from '../errors.ts';
import { sendWithFallback } from '../fallback/messages.ts';
import { analyticsDedupKeys, RECENT_ACTIVITY_LIMIT, TTL, userKeys } from '../keys.ts';
import { loggableError, logger } from '../log.ts';
import { recordMetric } from '../metrics.ts';
import { classifyRedisError } from '../redis/errors.ts';
import { runScript } from '../redis/scripts.ts';
import { requireRedis } from '../redis/service.ts';
import type { Services } from '../services.ts';
import { USER_EVENTS_TOPIC } from '../topics.ts';
import { aggregateDaily } from './aggregate.ts';
import {
  APPLY_ANALYTICS_BATCH,
  decodeReply,
  encodeBatch,
  type PartitionIncrements,
} from './batch-script.ts';
import {
  currentRecentKey,
  HOLD_TTL_SECONDS,
  RECENT_TTL_SECONDS,
  recentWindowKeys,
} from './dedup.ts';
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
  recordMetric('EventsTracked', events.length);
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
  `analytics:applied:${clusterHash(cluster)}:${topic}:${partition}`;

/** cluster -> its short hash: a container reads from one or two clusters, hashed once each. */
const clusterHashes = new Map<string, string>();
const clusterHash = (cluster: string): string => {
  let hash = clusterHashes.get(cluster);
  if (hash === undefined) {
    hash = createHash('sha1').update(cluster).digest('hex').slice(0, 12);
    if (clusterHashes.size >= 64) clusterHashes.clear();
    clusterHashes.set(cluster, hash);
  }
  return hash;
};
export const APPLIED_OFFSET_TTL_SECONDS = 8 * 86_400;

/** Requests per batch before giving up (a hold found, then an overlap, is the most it needs). */
const MAX_ROUNDS = 4;

/** One record of a slice: an event at an offset. */
export interface SliceEvent {
  offset: number;
  event: AnalyticsEvent;
  recordTimestamp: number;
  /** The record carries POSSIBLE_DUPLICATE_HEADER: it is checked by its eventId. */
  possibleDuplicate?: boolean;
}

/** One partition's events of a batch, in offset order. */
export interface AnalyticsSlice {
  /** The Kafka log the offsets count in (cluster ARN or bootstrap servers). */
  cluster: string;
  topic: string;
  partition: number;
  /** The offsets the slice covers, records that were not events (dead-lettered) included. */
  firstOffset: number;
  lastOffset: number;
  events: SliceEvent[];
}

export interface AppliedBatch {
  /** `<topic>-<partition>:<first>-<last>` of the ranges counted now. */
  applied: string[];
  /** Ranges that had been counted already (a redelivery): nothing changed for them. */
  alreadyApplied: string[];
  /** Ranges counted although at or below the applied offset: their log was recreated. */
  reset: string[];
  /** Events not counted because a copy of them (same eventId) was. */
  duplicates: number;
  /** Redis requests it took: 1, or more when a hold or an overlap needed a closer look. */
  requests: number;
}

const rangeOf = ({ topic, partition, firstOffset, lastOffset }: AnalyticsSlice) =>
  `${topic}-${partition}:${firstOffset}-${lastOffset}`;

/**
 * The events of `slices` whose eventId an earlier record of the batch has too (all partitions,
 * each in offset order): only the first is ever counted, so the later ones are left out.
 */
const laterCopies = (slices: readonly AnalyticsSlice[]): Set<SliceEvent> => {
  const seen = new Set<string>();
  const later = new Set<SliceEvent>();
  for (const slice of slices)
    for (const item of slice.events) {
      if (seen.has(item.event.eventId)) later.add(item);
      seen.add(item.event.eventId);
    }
  return later;
};

/**
 * One slice as the script's partition: its events that count (not `leftOut`), plain or to check
 * (marked as possible duplicates, or `held`), in one pass over the slice.
 */
const partOf = (
  slice: AnalyticsSlice,
  leftOut: ReadonlySet<SliceEvent>,
  held: ReadonlySet<string>,
): PartitionIncrements => {
  const plainEvents: SliceEvent[] = [];
  const plain: PartitionIncrements['plain'] = [];
  const toCheck: PartitionIncrements['toCheck'] = [];
  let newestTimestamp = Number.NEGATIVE_INFINITY;
  for (const item of slice.events) {
    newestTimestamp = Math.max(newestTimestamp, item.recordTimestamp);
    if (leftOut.size > 0 && leftOut.has(item)) continue;
    const { eventId } = item.event;
    const holdKey = analyticsDedupKeys.hold(eventId);
    if (item.possibleDuplicate === true || held.has(eventId)) {
      toCheck.push({ eventId, holdKey, increments: aggregateDaily([item]) });
    } else {
      plainEvents.push(item);
      plain.push({ eventId, holdKey });
    }
  }
  const [first] = slice.events;
  return {
    appliedKey: appliedOffsetKey(slice.cluster, slice.topic, slice.partition),
    firstOffset: slice.firstOffset,
    lastOffset: slice.lastOffset,
    firstEventOffset: first?.offset ?? slice.firstOffset,
    firstEventTimestamp: first?.recordTimestamp ?? 0,
    newestTimestamp,
    plain,
    increments: aggregateDaily(plainEvents),
    toCheck,
  };
};

const SCRIPT_TTLS = {
  data: TTL.dailyStats,
  applied: APPLIED_OFFSET_TTL_SECONDS,
  hold: HOLD_TTL_SECONDS,
  recent: RECENT_TTL_SECONDS,
};

/**
 * One request of applyAnalyticsBatch: the script's KEYS and ARGV for `slices` at `now`, the
 * events of `held` among those to check. (The benchmark counts what the script runs with it.)
 */
export const analyticsBatchRequest = (
  slices: readonly AnalyticsSlice[],
  now: number,
  held: ReadonlySet<string> = new Set(),
  leftOut: ReadonlySet<SliceEvent> = laterCopies(slices),
): { keys: string[]; args: string[] } =>
  encodeBatch(
    slices.map((slice) => partOf(slice, leftOut, held)),
    SCRIPT_TTLS,
    { current: currentRecentKey(now), window: recentWindowKeys(now) },
  );

/**
 * Counts a batch exactly once per record and once per eventId: each partition's increments and
 * its applied offset in ONE atomic script, all partitions in ONE request (batch-script.ts).
 * Records at or below a partition's applied offset (a redelivery, whole or overlapping) change
 * nothing, unless the log was recreated (its offsets start again: the first record is newer
 * than everything applied); a second copy of a counted event at a new offset changes nothing
 * (dedup.ts). When a batch overlaps the applied offset, or an event has a hold, the script
 * changes nothing for it and the rest is sent in a further request. The records must have
 * passed problemOfEvent.
 * @throws RedisUnavailableError / RedisCommandError when Redis fails or refuses the batch
 *   (nothing of it was applied: the retry is safe).
 */
export const applyAnalyticsBatch = async (
  services: Pick<Services, 'redis'>,
  slices: readonly AnalyticsSlice[],
  { now = Date.now() }: { now?: number } = {},
): Promise<AppliedBatch> => {
  // The reply starts with 'done' or 'held': the parsing client would JSON.parse it and catch the
  // throw, which costs more than the rest of the request (decodeReply reads numbers from either).
  const client = redisOf(services).unparsed;
  const outcome: AppliedBatch = {
    applied: [],
    alreadyApplied: [],
    reset: [],
    duplicates: 0,
    requests: 0,
  };
  const leftOut = laterCopies(slices);
  outcome.duplicates += leftOut.size;
  // Events counted now: those of the slices applied, less the copies the script recognised.
  let counted = 0;
  const held = new Set<string>();
  let pending = slices.filter((slice) => slice.events.length > 0);
  while (pending.length > 0) {
    if (outcome.requests === MAX_ROUNDS) {
      throw new RedisCommandError(
        `the applied offset of ${pending.map(rangeOf).join(', ')} kept moving during the batch: is a second consumer applying the same partitions?`,
      );
    }
    const { keys, args } = analyticsBatchRequest(pending, now, held, leftOut);
    let reply: unknown;
    try {
      reply = await runScript(client, APPLY_ANALYTICS_BATCH, keys, args);
    } catch (error) {
      throw classifyRedisError(error);
    }
    outcome.requests += 1;
    const decoded = decodeReply(reply, pending.length);
    if (decoded.outcome === 'held') {
      for (const id of decoded.eventIds) held.add(id);
      continue;
    }
    outcome.duplicates += decoded.duplicates;
    counted -= decoded.duplicates;
    const next: AnalyticsSlice[] = [];
    decoded.verdicts.forEach((verdict, i) => {
      const slice = pending[i] as AnalyticsSlice;
      if (verdict.status === 'applied' || verdict.status === 'reset') {
        for (const item of slice.events) if (!leftOut.has(item)) counted += 1;
      }
      if (verdict.status === 'applied') outcome.applied.push(rangeOf(slice));
      else if (verdict.status === 'reset') outcome.reset.push(rangeOf(slice));
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
  recordMetric('EventsCounted', counted);
  recordMetric('DuplicatesSkipped', outcome.duplicates);
  return outcome;
};
