import { defineScript, type ScriptCall } from '../redis/scripts.ts';
import type { DailyIncrements } from './aggregate.ts';

/**
 * One analytics batch as ONE atomic Redis step: each partition's counter increments and set
 * members are applied together with the record "this topic-partition is applied through offset
 * N", so a function that dies after the step and is invoked again with the same records (or
 * with records overlapping them) cannot count anything twice.
 *
 * Per partition the script compares the batch's [first, last] offsets with the applied offset:
 * - nothing applied yet, or applied < first: apply the increments, record last (status 1);
 * - applied >= last: a redelivery, change nothing (status 0);
 * - first <= applied < last: overlaps (status 2), change nothing; the caller re-aggregates the
 *   records after the applied offset and sends them again (a rare second request).
 * Partitions are independent: one request may apply some and skip others.
 */

/** One partition's share of a batch, aggregated. */
export interface PartitionIncrements {
  /** The key holding the offset this partition is applied through. */
  appliedKey: string;
  firstOffset: number;
  lastOffset: number;
  increments: DailyIncrements;
}

export type PartitionVerdict =
  | { status: 'applied' }
  | { status: 'already-applied' }
  | { status: 'overlaps'; appliedThrough: number };

export interface ScriptTtls {
  /** Seconds the counter and set keys live after a write. */
  data: number;
  /** Seconds an applied offset lives after the write that set it. */
  applied: number;
}

const STATUS_APPLIED = 1;
const STATUS_ALREADY_APPLIED = 0;
const STATUS_OVERLAPS = 2;
/** Members per SADD inside the script (Lua's unpack has a stack limit of about 8000). */
const SADD_CHUNK = 1000;

// KEYS: the applied-offset key of each partition, then every counter and set key.
// ARGV: data TTL, applied TTL, partition count, then per partition: first offset, last offset,
//   counter count, set count, (key index, amount) per counter, (key index, member count,
//   members...) per set. Offsets travel and are stored as strings (no float formatting).
// Replies, per partition: the status and the offset it was applied through before ('-1': none).
// Every key is in KEYS, so Upstash locks only those (the shebang must be the very first line).
const LUA = `#!lua flags=allow-key-locking
local dataTtl, appliedTtl = ARGV[1], ARGV[2]
local at = 4
local reply, touched, seen = {}, {}, {}
local function touch(key)
  if not seen[key] then
    seen[key] = true
    touched[#touched + 1] = key
  end
end
for p = 1, tonumber(ARGV[3]) do
  local first, last = ARGV[at], ARGV[at + 1]
  local counters, sets = tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  at = at + 4
  local applied = redis.call('GET', KEYS[p])
  local status = ${STATUS_APPLIED}
  if applied then
    if tonumber(applied) >= tonumber(last) then
      status = ${STATUS_ALREADY_APPLIED}
    elseif tonumber(applied) >= tonumber(first) then
      status = ${STATUS_OVERLAPS}
    end
  end
  for _ = 1, counters do
    local key = KEYS[tonumber(ARGV[at])]
    if status == ${STATUS_APPLIED} then
      redis.call('INCRBY', key, ARGV[at + 1])
      touch(key)
    end
    at = at + 2
  end
  for _ = 1, sets do
    local key, count = KEYS[tonumber(ARGV[at])], tonumber(ARGV[at + 1])
    at = at + 2
    if status == ${STATUS_APPLIED} then
      for from = at, at + count - 1, ${SADD_CHUNK} do
        redis.call('SADD', key, unpack(ARGV, from, math.min(from + ${SADD_CHUNK - 1}, at + count - 1)))
      end
      touch(key)
    end
    at = at + count
  end
  if status == ${STATUS_APPLIED} then
    redis.call('SET', KEYS[p], last, 'EX', appliedTtl)
  end
  reply[#reply + 1] = status
  reply[#reply + 1] = applied or '-1'
end
for _, key in ipairs(touched) do
  redis.call('EXPIRE', key, dataTtl)
end
return reply
`;

/** The Lua's steps in JavaScript, command for command, for the embedded store (no Lua there). */
const emulate = (call: ScriptCall, keys: string[], args: string[]): Array<number | string> => {
  const [dataTtl = '', appliedTtl = '', partitions = '0'] = args;
  const arg = (index: number) => args[index] ?? '';
  const keyAt = (index: string) => keys[Number(index) - 1] ?? '';
  let at = 3;
  const reply: Array<number | string> = [];
  const touched: string[] = [];
  const seen = new Set<string>();
  const touch = (key: string) => {
    if (seen.has(key)) return;
    seen.add(key);
    touched.push(key);
  };
  for (let p = 0; p < Number(partitions); p++) {
    const first = arg(at);
    const last = arg(at + 1);
    const counters = Number(arg(at + 2));
    const sets = Number(arg(at + 3));
    at += 4;
    const applied = call('GET', keys[p] ?? '') as string | null;
    let status = STATUS_APPLIED;
    if (applied !== null) {
      if (Number(applied) >= Number(last)) status = STATUS_ALREADY_APPLIED;
      else if (Number(applied) >= Number(first)) status = STATUS_OVERLAPS;
    }
    for (let c = 0; c < counters; c++) {
      const key = keyAt(arg(at));
      if (status === STATUS_APPLIED) {
        call('INCRBY', key, arg(at + 1));
        touch(key);
      }
      at += 2;
    }
    for (let s = 0; s < sets; s++) {
      const key = keyAt(arg(at));
      const count = Number(arg(at + 1));
      at += 2;
      if (status === STATUS_APPLIED) {
        for (let from = at; from < at + count; from += SADD_CHUNK) {
          call('SADD', key, ...args.slice(from, Math.min(from + SADD_CHUNK, at + count)));
        }
        touch(key);
      }
      at += count;
    }
    if (status === STATUS_APPLIED) call('SET', keys[p] ?? '', last, 'EX', appliedTtl);
    reply.push(status, applied ?? '-1');
  }
  for (const key of touched) call('EXPIRE', key, dataTtl);
  return reply;
};

export const APPLY_ANALYTICS_BATCH = defineScript({
  name: 'apply an analytics batch once per partition offset',
  lua: LUA,
  emulate,
});

/** KEYS and ARGV for APPLY_ANALYTICS_BATCH: each key once, referenced by its 1-based index. */
export const encodeBatch = (
  parts: readonly PartitionIncrements[],
  ttls: ScriptTtls,
): { keys: string[]; args: string[] } => {
  const keys = parts.map(({ appliedKey }) => appliedKey);
  const indexOf = new Map<string, number>();
  const ref = (key: string): string => {
    let index = indexOf.get(key);
    if (index === undefined) {
      keys.push(key);
      index = keys.length;
      indexOf.set(key, index);
    }
    return String(index);
  };
  const args = [String(ttls.data), String(ttls.applied), String(parts.length)];
  for (const { firstOffset, lastOffset, increments } of parts) {
    const sets = [...increments.sets].filter(([, members]) => members.size > 0);
    args.push(
      String(firstOffset),
      String(lastOffset),
      String(increments.counters.size),
      String(sets.length),
    );
    for (const [key, amount] of increments.counters) args.push(ref(key), String(amount));
    for (const [key, members] of sets) args.push(ref(key), String(members.size), ...members);
  }
  return { keys, args };
};

/**
 * Reads the script's reply, one verdict per partition. Tolerant of @upstash/redis turning
 * numeric strings into numbers.
 * @throws Error when the reply does not have one (status, offset) pair per partition.
 */
export const decodeVerdicts = (reply: unknown, partitions: number): PartitionVerdict[] => {
  if (!Array.isArray(reply) || reply.length !== partitions * 2) {
    throw new Error(
      `${APPLY_ANALYTICS_BATCH.name}: expected ${partitions * 2} reply items, got ${JSON.stringify(reply)?.slice(0, 200)}`,
    );
  }
  return Array.from({ length: partitions }, (_, i): PartitionVerdict => {
    const status = Number(reply[2 * i]);
    if (status === STATUS_APPLIED) return { status: 'applied' };
    if (status === STATUS_ALREADY_APPLIED) return { status: 'already-applied' };
    return { status: 'overlaps', appliedThrough: Number(reply[2 * i + 1]) };
  });
};
