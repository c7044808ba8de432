import type { Redis } from '@upstash/redis';
import { analyticsDedupKeys, isIdentifier } from '../keys.ts';
import { defineScript, runScript, type ScriptCall } from '../redis/scripts.ts';

/**
 * Counting an event once by its eventId, without remembering every eventId for a week.
 *
 * Offsets make a redelivery harmless (analytics.ts); a second copy of an event at a NEW offset
 * comes from a send that reached the broker although the producer gave up on it (it parks the
 * event, the drain sends it again), from the producer's retry after a reset (a new producer id,
 * so the broker cannot drop the repeat), or from a drain that died after Kafka acknowledged a
 * batch. The first copy of such a pair is an ordinary record: nothing marks it when it is sent.
 * So:
 * - processAnalytics records the ids it counts in a set per 5 minutes of its clock
 *   (`analytics:recent:<first minute>`, kept RECENT_WINDOW_MINUTES and a little more): the
 *   recent traces, about 60 bytes per event of the last 20 minutes or so.
 * - Whoever is about to make a copy that may be a second one holds the event first
 *   (`analytics:event:<eventId>`, HOLD_TTL_SECONDS, longer than MSK's retention):
 *   sendWithFallback when it parks an event (the failed send may have reached the broker), the
 *   drain before it sends a batch (an earlier drain may have sent it). The hold says 'counted'
 *   when a recent trace shows the first copy counted already, else 'held': the first copy to
 *   arrive counts and turns it to 'counted'.
 * - The records the drain replays and those the producer re-sends after a reset carry
 *   POSSIBLE_DUPLICATE_HEADER; processAnalytics checks each against its hold and the recent
 *   traces. Every other record is checked against the holds by one EXISTS per batch; only a
 *   hit costs a closer look (a second request).
 */

/** How long the ids counted stay recognisable as counted. */
export const RECENT_WINDOW_MINUTES = 15;
/** The recent traces are kept in one set per 5 minutes: a check reads 4-5 sets. */
export const RECENT_BUCKET_MINUTES = 5;
/** Longer than the window by the bucket being written and a margin for clocks. */
export const RECENT_TTL_SECONDS = (RECENT_WINDOW_MINUTES + RECENT_BUCKET_MINUTES + 3) * 60;
/** A hold outlives any copy's way back: MSK keeps records 7 days by default. */
export const HOLD_TTL_SECONDS = 8 * 86_400;
export const HOLD_COUNTED = 'counted';
export const HOLD_PENDING = 'held';

const BUCKET_MS = RECENT_BUCKET_MINUTES * 60_000;

/**
 * Bucket number -> its set's key. Every batch asks for the 5-6 buckets around its clock, the
 * same ones as the batch before nearly always: each is formatted once, not by a Date and an ISO
 * string per batch. Bounded, as a container may live for days.
 */
const bucketKeys = new Map<number, string>();

/** The recent-trace set of the 5 minutes `ms` falls in (named by their first minute, UTC). */
const bucketKey = (ms: number): string => {
  const bucket = Math.floor(ms / BUCKET_MS);
  let key = bucketKeys.get(bucket);
  if (key === undefined) {
    key = analyticsDedupKeys.recent(new Date(bucket * BUCKET_MS).toISOString().slice(0, 16));
    if (bucketKeys.size >= 64) bucketKeys.clear();
    bucketKeys.set(bucket, key);
  }
  return key;
};

/** The recent-trace set the events counted at `now` go to. */
export const currentRecentKey = (now: number): string => bucketKey(now);

/**
 * The recent-trace sets a check looks in: those of the window before `now`, and of the minute
 * after it (a consumer whose clock runs ahead may have written there), newest first.
 */
export const recentWindowKeys = (now: number): string[] => {
  const times = [now + 60_000];
  for (let back = 0; back <= RECENT_WINDOW_MINUTES; back += RECENT_BUCKET_MINUTES)
    times.push(now - back * 60_000);
  return [...new Set(times.map(bucketKey))];
};

/** The eventId of a value that is an analytics event (a string `type`), when it can key a hold. */
export const analyticsEventIdOf = (value: unknown): string | undefined => {
  if (typeof value !== 'object' || value === null) return undefined;
  const { type, eventId } = value as { type?: unknown; eventId?: unknown };
  return typeof type === 'string' && isIdentifier(eventId) ? eventId : undefined;
};

/**
 * Lua: holds each id that has no hold yet: 'counted' when one of the window's sets has it, else
 * 'held'. `windowKeys`, `holdKeys` and `ids` are Lua arrays (holdKeys[i] is ids[i]'s).
 */
export const HOLD_EVENTS_LUA = `
local function holdEvents(windowKeys, holdKeys, ids, ttl)
  for i, id in ipairs(ids) do
    if redis.call('EXISTS', holdKeys[i]) == 0 then
      local seen = false
      for _, key in ipairs(windowKeys) do
        if redis.call('SISMEMBER', key, id) == 1 then
          seen = true
          break
        end
      end
      redis.call('SET', holdKeys[i], seen and '${HOLD_COUNTED}' or '${HOLD_PENDING}', 'EX', ttl)
    end
  end
end`;

/** HOLD_EVENTS_LUA's steps in JavaScript. */
export const holdEvents = (
  call: ScriptCall,
  windowKeys: readonly string[],
  holdKeys: readonly string[],
  ids: readonly string[],
  ttl: string,
): void => {
  ids.forEach((id, i) => {
    const holdKey = holdKeys[i] ?? '';
    if (call('EXISTS', holdKey) !== 0) return;
    const seen = windowKeys.some((key) => call('SISMEMBER', key, id) === 1);
    call('SET', holdKey, seen ? HOLD_COUNTED : HOLD_PENDING, 'EX', ttl);
  });
};

/** KEYS and ARGV for holding `ids` at `now`: window keys then hold keys; window size, TTL, ids. */
export const holdArguments = (ids: readonly string[], now: number) => {
  const windowKeys = recentWindowKeys(now);
  return {
    keys: [...windowKeys, ...ids.map(analyticsDedupKeys.hold)],
    args: [String(windowKeys.length), String(HOLD_TTL_SECONDS), ...ids],
  };
};

// KEYS: the window's recent-trace sets, then one hold per id. ARGV: window size, TTL, ids.
const HOLD_EVENTS = defineScript({
  name: 'hold analytics events',
  lua: `#!lua flags=allow-key-locking${HOLD_EVENTS_LUA}
local window = tonumber(ARGV[1])
local windowKeys, holdKeys, ids = {}, {}, {}
for i = 1, window do windowKeys[i] = KEYS[i] end
for i = 3, #ARGV do
  ids[#ids + 1] = ARGV[i]
  holdKeys[#holdKeys + 1] = KEYS[window + i - 2]
end
holdEvents(windowKeys, holdKeys, ids, ARGV[2])
return #ids`,
  emulate: (call, keys, [window = '0', ttl = '', ...ids]) => {
    const size = Number(window);
    holdEvents(call, keys.slice(0, size), keys.slice(size), ids, ttl);
    return ids.length;
  },
});

/**
 * Holds the analytics events among `values` (see above) before a copy of them that may be a
 * second one is made; one request, none when there is no analytics event.
 */
export const holdAnalyticsEvents = async (
  client: Redis,
  values: readonly unknown[],
  now: number = Date.now(),
): Promise<void> => {
  const ids = [...new Set(values.map(analyticsEventIdOf).filter((id) => id !== undefined))];
  if (ids.length === 0) return;
  const { keys, args } = holdArguments(ids, now);
  await runScript(client, HOLD_EVENTS, keys, args);
};
