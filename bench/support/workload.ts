import type { MSKEvent, MSKRecord } from 'aws-lambda';
import type { AnalyticsEvent } from '../../lib/analytics/schema.ts';
import { loadEvent } from './lambda.ts';

/** The analytics workload: mixed users, actions and event types over a few days. */

export const USERS = 50;
export const ACTIONS = [
  'view_product',
  'add_to_cart',
  'remove_from_cart',
  'checkout',
  'search',
  'share',
  'review',
  'wishlist',
] as const;

/**
 * `count` events: 85 % USER_ACTION (one of 8 actions), 10 % USER_LOGGED_IN, 5 % a system event
 * without a user; users from a pool of 50; each on one of `dates` (UTC). Event ids are
 * `<idPrefix>-<n>`, so every event of a run is distinct.
 */
export const analyticsEvents = (
  random: () => number,
  count: number,
  dates: readonly string[],
  idPrefix: string,
  firstId = 0,
): AnalyticsEvent[] =>
  Array.from({ length: count }, (_, i) => {
    const kind = random();
    const date = dates[Math.floor(random() * dates.length)] as string;
    const second = Math.floor(random() * 86_400);
    const timestamp = new Date(Date.parse(`${date}T00:00:00.000Z`) + second * 1_000).toISOString();
    const eventId = `${idPrefix}-${firstId + i}`;
    const userId = `bench-user-${Math.floor(random() * USERS)}`;
    if (kind < 0.85) {
      const action = ACTIONS[Math.floor(random() * ACTIONS.length)] as string;
      return {
        eventId,
        type: 'USER_ACTION',
        userId,
        action,
        data: { sku: 'SKU-BENCH' },
        timestamp,
      };
    }
    if (kind < 0.95)
      return { eventId, type: 'USER_LOGGED_IN', userId, sessionId: `s-${i}`, timestamp };
    return { eventId, type: 'CACHE_WARMED', source: 'bench', timestamp };
  });

const bytes = (text: string) => [...Buffer.from(text)];

/**
 * An `aws:kafka` event as MSK's event-source mapping delivers it, with events/msk-user-events.json
 * as the envelope: records spread over `partitions` partitions, base64 key and value, the
 * correlation id as a byte-array header (and the possible-duplicate mark when asked).
 * `nextOffset` keeps offsets rising across batches.
 */
export const mskEventOf = (
  topic: string,
  events: readonly AnalyticsEvent[],
  nextOffset: Map<number, number>,
  {
    partitions = 3,
    correlationId = 'bench',
    possibleDuplicate = false,
  }: { partitions?: number; correlationId?: string; possibleDuplicate?: boolean } = {},
): MSKEvent => {
  const template = loadEvent<MSKEvent>('msk-user-events.json');
  const records: Record<string, MSKRecord[]> = {};
  events.forEach((event, i) => {
    const partition = i % partitions;
    const offset = nextOffset.get(partition) ?? 0;
    nextOffset.set(partition, offset + 1);
    const key = `${topic}-${partition}`;
    records[key] ??= [];
    records[key].push({
      topic,
      partition,
      offset,
      timestamp: Date.parse(event.timestamp),
      timestampType: 'CREATE_TIME',
      key: Buffer.from(String(event.userId ?? event.eventId)).toString('base64'),
      value: Buffer.from(JSON.stringify(event)).toString('base64'),
      headers: [
        { 'x-correlation-id': bytes(correlationId) },
        // As the fallback drain and the producer's re-send after a reset mark their records.
        ...(possibleDuplicate ? [{ 'x-narad-possible-duplicate': bytes('1') }] : []),
      ],
    });
  });
  return { ...template, records };
};

/** Distinct daily keys a batch touches (the floor for any per-key design: one write each). */
export const dailyKeysTouched = (events: readonly AnalyticsEvent[]): number => {
  const keys = new Set<string>();
  for (const event of events) {
    const day = event.timestamp.slice(0, 10);
    keys.add(`${day}:total`);
    if (event.type === 'USER_ACTION') {
      keys.add(`${day}:user_actions`);
      keys.add(`${day}:action:${event.action}`);
      keys.add(`${day}:actions`);
    }
    if (typeof event.userId === 'string') keys.add(`${day}:active_users`);
  }
  return keys.size;
};
