import { randomUUID } from 'node:crypto';
import { holdAnalyticsEvents } from '../analytics/dedup.ts';
import type { Config } from '../config.ts';
import { KafkaUnavailableError, RedisUnavailableError } from '../errors.ts';
import type { KafkaService } from '../kafka/producer.ts';
import { POSSIBLE_DUPLICATE_HEADER } from '../kafka/record-headers.ts';
import { recordMetric } from '../metrics.ts';
import { defineScript, runScript, type ScriptCall } from '../redis/scripts.ts';
import type { RedisService } from '../redis/service.ts';
import {
  deadListKey,
  fallbackListKey,
  isEntry,
  type MessagingDeps,
  PUSH_CHUNK,
} from './messages.ts';

// The drain: a lock, and for each batch a list of the drain's own.
//
// A drain holds the topic's lock (one drain at a time keeps the replay oldest first) and moves
// each batch, atomically and only while it holds the lock, from the tail of the fallback list
// to a list of its own (`kafka_fallback_sending:<topic>:<token>`) before sending it. Whatever
// happens to the lock afterwards (it expires during a slow send, another drain takes over),
// no other drain sees those entries, and the drain removes only its own list once Kafka
// acknowledged it: it can neither send another drain's entries nor delete messages parked
// meanwhile. While the drain is alive it renews its lock and a lease on its list; the list of
// a drain that died (its lease ran out) is put back at the tail of the fallback list by the
// next drain, and sent again.

const drainLockKey = (topic: string) => `kafka_fallback_lock:${topic}`;
/** The list of entries one drain (its lock token) took and is sending. */
export const drainSendingKey = (topic: string, token: string): string =>
  `kafka_fallback_sending:${topic}:${token}`;
/** The tokens of the drains that have a sending list for `topic` (to find a dead one's). */
export const drainSendersKey = (topic: string): string => `kafka_fallback_senders:${topic}`;
/** Exists while the drain of `token` is alive (renewed with its lock). */
const drainLeaseKey = (topic: string, token: string) => `kafka_fallback_lease:${topic}:${token}`;

const luaMoveBack = `
local function moveBack(sending, list)
  local taken = redis.call('LRANGE', sending, 0, -1)
  for from = #taken, 1, -${PUSH_CHUNK} do
    local chunk = {}
    for i = from, math.max(1, from - ${PUSH_CHUNK - 1}), -1 do chunk[#chunk + 1] = taken[i] end
    redis.call('RPUSH', list, unpack(chunk))
  end
  redis.call('DEL', sending)
  return #taken
end`;

/** The sending list back to the tail of the fallback list, oldest at the very tail. */
const moveBack = (call: ScriptCall, sending: string, list: string): number => {
  const taken = call('LRANGE', sending, 0, -1) as string[];
  for (let from = taken.length; from >= 1; from -= PUSH_CHUNK) {
    const chunk = taken.slice(Math.max(0, from - PUSH_CHUNK), from).reverse();
    call('RPUSH', list, ...chunk);
  }
  call('DEL', sending);
  return taken.length;
};

// KEYS: list, sending, lock, senders, lease. ARGV: token, batch size, lock seconds, lease ms.
// Moves up to batch-size entries from the list's tail (the oldest) to the sending list, oldest
// first, only while the lock is the caller's. Replies how many (-1: the lock is not the caller's).
const TAKE_BATCH = defineScript({
  name: 'take a drain batch',
  lua: `#!lua flags=allow-key-locking
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
local batch = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[2]), -1)
if #batch == 0 then return 0 end
for from = #batch, 1, -${PUSH_CHUNK} do
  local chunk = {}
  for i = from, math.max(1, from - ${PUSH_CHUNK - 1}), -1 do chunk[#chunk + 1] = batch[i] end
  redis.call('RPUSH', KEYS[2], unpack(chunk))
end
redis.call('LTRIM', KEYS[1], 0, -(#batch + 1))
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('SET', KEYS[5], '1', 'PX', ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return #batch`,
  emulate: (
    call,
    [list = '', sending = '', lock = '', senders = '', lease = ''],
    [token = '', size = '0', lockSeconds = '', leaseMs = ''],
  ) => {
    if (call('GET', lock) !== token) return -1;
    const batch = call('LRANGE', list, -Number(size), -1) as string[];
    if (batch.length === 0) return 0;
    for (let from = batch.length; from >= 1; from -= PUSH_CHUNK) {
      call('RPUSH', sending, ...batch.slice(Math.max(0, from - PUSH_CHUNK), from).reverse());
    }
    call('LTRIM', list, 0, -(batch.length + 1));
    call('SADD', senders, token);
    call('SET', lease, '1', 'PX', leaseMs);
    call('EXPIRE', lock, lockSeconds);
    return batch.length;
  },
});

// KEYS: sending, senders, lease, dead list. ARGV: token, then the 0-based positions (in the
// sending list) of entries that are not fallback entries. Kafka acknowledged the rest: the
// sending list goes, those entries move to the dead list. The caller's own list: no lock needed.
const FINISH_BATCH = defineScript({
  name: 'finish a drain batch',
  lua: `#!lua flags=allow-key-locking
local taken = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 2, #ARGV do
  local value = taken[tonumber(ARGV[i]) + 1]
  if value then redis.call('LPUSH', KEYS[4], value) end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1`,
  emulate: (
    call,
    [sending = '', senders = '', lease = '', dead = ''],
    [token = '', ...malformed],
  ) => {
    const taken = call('LRANGE', sending, 0, -1) as string[];
    for (const index of malformed) {
      const value = taken[Number(index)];
      if (value !== undefined) call('LPUSH', dead, value);
    }
    call('DEL', sending);
    call('SREM', senders, token);
    call('DEL', lease);
    return 1;
  },
});

// KEYS: list, sending, senders, lease. ARGV: token. Kafka did not take the batch: it goes back
// to the tail of the list, in order, for the next drain.
const RETURN_BATCH = defineScript({
  name: 'return a drain batch',
  lua: `#!lua flags=allow-key-locking${luaMoveBack}
local moved = moveBack(KEYS[2], KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[4])
return moved`,
  emulate: (call, [list = '', sending = '', senders = '', lease = ''], [token = '']) => {
    const moved = moveBack(call, sending, list);
    call('SREM', senders, token);
    call('DEL', lease);
    return moved;
  },
});

// KEYS: list, the dead drain's sending list, senders, its lease, lock. ARGV: the caller's
// token, the dead drain's token. Only the lock holder recovers, and only a list whose lease ran
// out (its drain stopped renewing it): its entries go back to the tail, to be sent again.
const RECOVER_BATCH = defineScript({
  name: 'recover a dead drain batch',
  lua: `#!lua flags=allow-key-locking${luaMoveBack}
if redis.call('GET', KEYS[5]) ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
local moved = moveBack(KEYS[2], KEYS[1])
redis.call('SREM', KEYS[3], ARGV[2])
return moved`,
  emulate: (
    call,
    [list = '', sending = '', senders = '', lease = '', lock = ''],
    [token = '', dead = ''],
  ) => {
    if (call('GET', lock) !== token) return -1;
    if (call('EXISTS', lease) === 1) return 0;
    const moved = moveBack(call, sending, list);
    call('SREM', senders, dead);
    return moved;
  },
});

// KEYS: lock, lease. ARGV: token, lock seconds, lease ms. Renews the lock while it is the
// caller's (replies 1, else 0) and the lease on the caller's sending list while it exists.
const RENEW = defineScript({
  name: 'renew drain lock and lease',
  lua: `#!lua flags=allow-key-locking
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0`,
  emulate: (call, [lock = '', lease = ''], [token = '', seconds = '', leaseMs = '']) => {
    if (call('EXISTS', lease) === 1) call('PEXPIRE', lease, leaseMs);
    return call('GET', lock) === token ? call('EXPIRE', lock, seconds) : 0;
  },
});

const RELEASE_LOCK = defineScript({
  name: 'release drain lock',
  lua: `#!lua flags=allow-key-locking
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`,
  emulate: (call, [lock = ''], [token = '']) =>
    call('GET', lock) === token ? call('DEL', lock) : 0,
});

export interface DrainResult {
  topic: string;
  sent: number;
  /** Entries that were not fallback entries; moved aside to kafka_fallback_dead:<topic>. */
  deadLettered: number;
  remaining: number;
  /** Entries of drains that died, put back in the list (and sent again) by this drain. */
  recovered?: number;
  /** Why the drain stopped early, when it did. */
  stoppedBecause?: string;
}

export interface DrainOptions {
  batchSize?: number;
  lockSeconds?: number;
}

const LOCK_LOST = 'the drain lock expired; another drain may have taken over';

const drainTopic = async (
  kafka: KafkaService,
  redis: RedisService,
  topic: string,
  { batchSize = 100, lockSeconds = 60 }: DrainOptions,
): Promise<DrainResult> => {
  const client = redis.client;
  const list = fallbackListKey(topic);
  const lock = drainLockKey(topic);
  const senders = drainSendersKey(topic);
  const token = randomUUID();
  const sending = drainSendingKey(topic, token);
  const lease = drainLeaseKey(topic, token);
  const leaseMs = lockSeconds * 1000;
  const result: DrainResult = { topic, sent: 0, deadLettered: 0, remaining: 0 };
  if ((await client.set(lock, token, { nx: true, ex: lockSeconds })) === null) {
    result.remaining = await client.llen(list);
    result.stoppedBecause = 'another drain of this topic is running';
    return result;
  }
  // Renewed a few times per term, so a slow send keeps both the lock and the lease.
  let lockHeld = true;
  const renewal = setInterval(
    () => {
      runScript(client, RENEW, [lock, lease], [token, lockSeconds, leaseMs])
        .then((renewed) => {
          if (renewed !== 1) lockHeld = false;
        })
        .catch(() => undefined);
    },
    Math.max(100, Math.floor(leaseMs / 3)),
  );
  renewal.unref();
  try {
    for (const other of await client.smembers(senders)) {
      if (other === token) continue;
      const moved = await runScript(
        client,
        RECOVER_BATCH,
        [list, drainSendingKey(topic, other), senders, drainLeaseKey(topic, other), lock],
        [token, other],
      );
      if (moved > 0) result.recovered = (result.recovered ?? 0) + moved;
    }
    for (;;) {
      if (!lockHeld) {
        result.stoppedBecause = LOCK_LOST;
        break;
      }
      const taken = await runScript(
        client,
        TAKE_BATCH,
        [list, sending, lock, senders, lease],
        [token, batchSize, lockSeconds, leaseMs],
      );
      if (taken === -1) {
        result.stoppedBecause = LOCK_LOST;
        break;
      }
      if (taken === 0) break;
      const batch = await client.lrange<unknown>(sending, 0, -1);
      const entries = batch.filter(isEntry);
      const malformed = batch.flatMap((value, index) => (isEntry(value) ? [] : [index]));
      if (entries.length > 0) {
        try {
          // An earlier copy may be in Kafka (the failed send that parked them, a drain that
          // died after the broker acknowledged them): held, then marked (dedup.ts).
          await holdAnalyticsEvents(
            client,
            entries.map((entry) => entry.message),
          );
          await kafka.sendBatch(
            topic,
            entries.map((entry) => ({
              value: entry.message,
              key: entry.key,
              headers: { ...entry.headers, [POSSIBLE_DUPLICATE_HEADER]: '1' },
            })),
          );
        } catch (error) {
          await runScript(client, RETURN_BATCH, [list, sending, senders, lease], [token]);
          result.stoppedBecause = error instanceof Error ? error.message : String(error);
          break;
        }
      }
      await runScript(
        client,
        FINISH_BATCH,
        [sending, senders, lease, deadListKey(topic)],
        [token, ...malformed],
      );
      result.sent += entries.length;
      result.deadLettered += malformed.length;
    }
  } finally {
    clearInterval(renewal);
    await runScript(client, RELEASE_LOCK, [lock], [token]).catch(() => undefined);
  }
  result.remaining = await client.llen(list);
  return result;
};

/**
 * Records what each drain sent and each list's length after it (the backlog, reported every
 * run, zero included: an alarm watches it stay above zero).
 */
const reported = (results: DrainResult[]): DrainResult[] => {
  for (const { topic, sent, remaining } of results) {
    recordMetric('FallbackDrained', sent);
    recordMetric('FallbackBacklog', remaining, { topic });
  }
  return results;
};

/** The topics that have a fallback list, or entries a drain took and has not finished. */
export const fallbackTopics = async (redis: RedisService): Promise<string[]> => {
  const topics: string[] = [];
  for (const prefix of ['kafka_fallback:', 'kafka_fallback_senders:']) {
    let cursor: string | number = '0';
    do {
      const [next, keys]: [string | number, string[]] = await redis.client.scan(cursor, {
        match: `${prefix}*`,
        count: 500,
      });
      topics.push(...keys.map((key) => key.slice(prefix.length)));
      cursor = next;
    } while (String(cursor) !== '0');
  }
  return [...new Set(topics)].sort();
};

/**
 * Replays the fallback lists of `topics` to Kafka, oldest first, removing entries only after
 * the brokers acknowledged them. A per-topic lock keeps two drains from sending at once; each
 * batch moves to a list of the drain's own before it is sent, so a drain that lost its lock
 * during a slow send removes only what it sent, and one that dies half way loses nothing (the
 * next drain puts its unacknowledged batch back once its lease ran out). The scheduled drain
 * passes PARKED_TOPICS; `npm run drain` without a topic passes every topic `fallbackTopics`
 * finds.
 * @throws RedisUnavailableError when Redis cannot be read (nothing was moved).
 */
export const drainFallback = async (
  { kafka, redis, config }: MessagingDeps & { config?: Pick<Config, 'kafka'> },
  topics: string | readonly string[],
  options: DrainOptions = {},
): Promise<DrainResult[]> => {
  const names = typeof topics === 'string' ? [topics] : [...topics];
  if (!redis)
    throw new RedisUnavailableError(
      'Redis is not configured; there are no fallback lists to drain',
    );
  if (!kafka)
    throw new KafkaUnavailableError(
      'Kafka is not configured; fallback lists cannot be drained',
      names.join(','),
    );
  if (config?.kafka.kind === 'embedded') {
    // Embedded Kafka lives in this process's memory (npm start without a broker, beside a real
    // Redis): a drain would move durable messages somewhere they die with the process.
    return reported(
      await Promise.all(
        names.map(async (name) => ({
          topic: name,
          sent: 0,
          deadLettered: 0,
          remaining: await redis.client.llen(fallbackListKey(name)),
          stoppedBecause:
            'Kafka is embedded (in memory): the list stays in Redis until a real broker is configured',
        })),
      ),
    );
  }
  const results: DrainResult[] = [];
  for (const name of names) results.push(await drainTopic(kafka, redis, name, options));
  return reported(results);
};
