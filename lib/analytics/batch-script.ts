import { defineScript, type ScriptCall } from '../redis/scripts.ts';
import type { DailyIncrements } from './aggregate.ts';
import { HOLD_COUNTED, HOLD_PENDING } from './dedup.ts';

/**
 * One analytics batch as ONE atomic Redis step: each partition's counter increments and set
 * members are applied together with the record "this topic-partition is applied through offset
 * N", so a function that dies after the step and is invoked again with the same records (or
 * with records overlapping them) cannot count anything twice.
 *
 * Why one file of ~650 lines: the Lua script and its JavaScript mirror (which the embedded store
 * runs, as it cannot run Lua) must change together, so they sit side by side, and
 * test/integration/analytics-batch-script.test.ts runs both on the same batches and compares them.
 *
 * Per partition the script compares the batch's [first, last] offsets with the applied offset:
 * - nothing applied yet, or applied < first: apply the increments, record last (status 1);
 * - applied >= last: a redelivery, change nothing (status 0);
 * - first <= applied < last: overlaps (status 2), change nothing; the caller re-aggregates the
 *   records after the applied offset and sends them again (a rare second request);
 * - the first event is at or below the applied offset but newer than every record applied so
 *   far: the log was recreated (a topic deleted and created again, a broker's data wiped) and
 *   its offsets started again from 0; apply everything (status 3).
 * Partitions are independent: one request may apply some and skip others.
 *
 * By eventId (dedup.ts): the events that may be second copies are checked one by one against
 * their hold and the recent traces, and counted only when no first copy was; the ids of all
 * other events are checked against the holds with one EXISTS, and when one has a hold the
 * script changes nothing and replies with those ids, for the caller to send them again as
 * events to check. Every event counted goes to the current recent-trace set.
 *
 * All or nothing: Redis keeps what a script wrote before an error, so the script first reads
 * and checks everything it is given and every key it will write (a counter must hold an
 * integer, a set must be a set), and writes only when nothing can fail any more. A problem is
 * an error reply naming it, with nothing written.
 */

/** An event that may be a second copy (marked as such, or one with a hold). */
export interface EventToCheck {
  eventId: string;
  /** The event's hold: its eventId's alone (see PartitionIncrements.plain). */
  holdKey: string;
  /** What it adds when it is counted. */
  increments: DailyIncrements;
}

/** One partition's share of a batch, aggregated. */
export interface PartitionIncrements {
  /** The key holding the offset this partition is applied through. */
  appliedKey: string;
  firstOffset: number;
  lastOffset: number;
  /** Offset and record timestamp of the partition's first event (a recreated log shows there). */
  firstEventOffset: number;
  firstEventTimestamp: number;
  /** The newest record timestamp among the partition's events. */
  newestTimestamp: number;
  /**
   * Events counted without a closer look, each with its hold key (one EXISTS for all). A hold
   * key is its eventId's alone: the same eventId has the same one wherever it appears in the
   * batch, and no other key of the batch is a hold key (encodeBatch enters each hold key once,
   * found by its eventId).
   */
  plain: Array<{ eventId: string; holdKey: string }>;
  /** What the plain events add. */
  increments: DailyIncrements;
  toCheck: EventToCheck[];
}

export type PartitionVerdict =
  | { status: 'applied' }
  | { status: 'reset' }
  | { status: 'already-applied' }
  | { status: 'overlaps'; appliedThrough: number };

export type BatchReply =
  | { outcome: 'done'; duplicates: number; verdicts: PartitionVerdict[] }
  /** Nothing changed: these plain events have holds; send them again among the events to check. */
  | { outcome: 'held'; eventIds: string[] };

export interface ScriptTtls {
  /** Seconds the counter and set keys live after a write. */
  data: number;
  /** Seconds an applied offset lives after the write that set it. */
  applied: number;
  /** Seconds the hold of a counted event to check lives. */
  hold: number;
  /** Seconds a recent-trace set lives after a write. */
  recent: number;
}

/** Where this batch's recent traces go, and where an event to check is looked for. */
export interface RecentTraces {
  current: string;
  window: string[];
}

const STATUS_ALREADY_APPLIED = 0;
const STATUS_APPLIED = 1;
const STATUS_OVERLAPS = 2;
const STATUS_RESET = 3;
/** Values per variadic command inside the script (Lua's unpack has a stack limit of about 8000). */
const CHUNK = 1000;
/** 10^15: a counter that would pass it is refused before anything is written (far from overflow). */
const COUNTER_LIMIT = 1e15;

// ARGV, in order (every key by its 1-based index in KEYS, every number as an integer string):
//   data TTL, applied TTL, hold TTL, recent TTL, current recent-trace key, window size, window
//   keys; partition count; per partition: applied key, first offset, last offset, first event's
//   offset and timestamp, newest timestamp, plain count, (id, hold key) per plain event, the
//   plain increments, count of events to check, per event (id, hold key, its increments).
//   Increments: counter count, (key, amount) per counter, set count, (key, member count,
//   members...) per set.
// Replies {'done', duplicates skipped, (status, applied offset before or '-1') per partition}
// or {'held', event ids...}.
const LUA = `#!lua flags=allow-key-locking
local function fail(message)
  error({err = 'ERR analytics batch: ' .. message})
end
local at = 0
local function nextArg()
  at = at + 1
  local value = ARGV[at]
  if value == nil then fail('ARGV ends at ' .. (at - 1) .. ' where more was expected') end
  return value
end
local function nextInt()
  local value = nextArg()
  if not string.match(value, '^%-?%d+$') or #value > 16 then
    fail('ARGV[' .. at .. '] is not an integer: ' .. string.sub(value, 1, 40))
  end
  return tonumber(value), value
end
local function nextKey()
  local index = nextInt()
  local key = KEYS[index]
  if key == nil then fail('ARGV[' .. at .. '] names KEYS[' .. index .. '], which is missing') end
  return key
end
local function nextIncrements()
  local counters, sets = {}, {}
  for _ = 1, nextInt() do
    local key = nextKey()
    counters[#counters + 1] = {key = key, amount = nextInt()}
  end
  for _ = 1, nextInt() do
    local key, members = nextKey(), {}
    for _ = 1, nextInt() do members[#members + 1] = nextArg() end
    sets[#sets + 1] = {key = key, members = members}
  end
  return {counters = counters, sets = sets}
end

local ttl, window, parts = {}, {}, {}
local recentKey
local amounts, amountKeys, members, memberKeys = {}, {}, {}, {}
local recentIds, holdsToSet, duplicates = {}, {}, 0
local function counts(part)
  return part.status == ${STATUS_APPLIED} or part.status == ${STATUS_RESET}
end
local function add(increments)
  for _, counter in ipairs(increments.counters) do
    if amounts[counter.key] == nil then
      amounts[counter.key] = 0
      amountKeys[#amountKeys + 1] = counter.key
    end
    amounts[counter.key] = amounts[counter.key] + counter.amount
  end
  for _, set in ipairs(increments.sets) do
    if members[set.key] == nil then
      members[set.key] = {}
      memberKeys[#memberKeys + 1] = set.key
    end
    for _, member in ipairs(set.members) do
      local list = members[set.key]
      list[#list + 1] = member
    end
  end
end

-- Reads and checks only: returns the 'held' reply, or nil when the batch can be written.
local function prepare()
  ttl.data, ttl.applied, ttl.hold, ttl.recent = nextInt(), nextInt(), nextInt(), nextInt()
  recentKey = nextKey()
  for _ = 1, nextInt() do window[#window + 1] = nextKey() end
  for _ = 1, nextInt() do
    local part = {appliedKey = nextKey(), plain = {}, toCheck = {}}
    part.first = nextInt()
    part.last, part.lastText = nextInt()
    part.firstEventOffset = nextInt()
    part.firstEventTimestamp = nextInt()
    part.newestTimestamp, part.newestText = nextInt()
    for _ = 1, nextInt() do
      local id = nextArg()
      part.plain[#part.plain + 1] = {id = id, hold = nextKey()}
    end
    part.increments = nextIncrements()
    for _ = 1, nextInt() do
      local id = nextArg()
      local hold = nextKey()
      part.toCheck[#part.toCheck + 1] = {id = id, hold = hold, increments = nextIncrements()}
    end
    parts[#parts + 1] = part
  end
  if at ~= #ARGV then fail(#ARGV - at .. ' ARGV left over after the last partition') end

  for _, part in ipairs(parts) do
    local stored = redis.call('GET', part.appliedKey)
    part.before = '-1'
    part.status = ${STATUS_APPLIED}
    if stored then
      local offset, stamp = string.match(stored, '^(%-?%d+):(%-?%d+)$')
      if not offset then offset = string.match(stored, '^(%-?%d+)$') end
      if not offset then
        fail(part.appliedKey .. ' holds "' .. string.sub(stored, 1, 40) .. '", not an applied offset')
      end
      part.before = offset
      part.storedText = stamp
      part.storedTimestamp = stamp and tonumber(stamp)
      offset = tonumber(offset)
      if part.storedTimestamp and part.firstEventOffset <= offset
        and part.firstEventTimestamp > part.storedTimestamp then
        part.status = ${STATUS_RESET}
      elseif offset >= part.last then
        part.status = ${STATUS_ALREADY_APPLIED}
      elseif offset >= part.first then
        part.status = ${STATUS_OVERLAPS}
      end
    end
  end

  local plain = {}
  for _, part in ipairs(parts) do
    if counts(part) then
      for _, event in ipairs(part.plain) do plain[#plain + 1] = event end
    end
  end
  local found = 0
  for from = 1, #plain, ${CHUNK} do
    local keys = {}
    for i = from, math.min(from + ${CHUNK - 1}, #plain) do keys[#keys + 1] = plain[i].hold end
    found = found + redis.call('EXISTS', unpack(keys))
  end
  if found > 0 then
    local held = {'held'}
    for _, event in ipairs(plain) do
      if redis.call('EXISTS', event.hold) == 1 then held[#held + 1] = event.id end
    end
    return held
  end

  for _, part in ipairs(parts) do
    if counts(part) then
      add(part.increments)
      for _, event in ipairs(part.plain) do recentIds[#recentIds + 1] = event.id end
      for _, event in ipairs(part.toCheck) do
        local hold = redis.call('GET', event.hold)
        local seen = false
        if hold == '${HOLD_COUNTED}' then
          seen = true
        elseif hold and hold ~= '${HOLD_PENDING}' then
          fail(event.hold .. ' holds "' .. string.sub(hold, 1, 40) .. '", not a hold')
        elseif not hold then
          for _, key in ipairs(window) do
            if redis.call('SISMEMBER', key, event.id) == 1 then
              seen = true
              break
            end
          end
        end
        if seen then
          duplicates = duplicates + 1
        else
          add(event.increments)
          recentIds[#recentIds + 1] = event.id
          holdsToSet[#holdsToSet + 1] = event.hold
        end
      end
    end
  end

  for _, key in ipairs(amountKeys) do
    local value = redis.call('GET', key)
    local number = value and string.match(value, '^%-?%d+$') and tonumber(value)
    if value and not number then
      fail(key .. ' holds "' .. string.sub(value, 1, 40) .. '", not a counter')
    end
    if math.abs((number or 0) + amounts[key]) >= ${COUNTER_LIMIT} then
      fail(key .. ' would pass 10^15 (it holds ' .. tostring(value) .. ')')
    end
  end
  local sets = {unpack(memberKeys)}
  if #recentIds > 0 then sets[#sets + 1] = recentKey end
  for _, key in ipairs(sets) do
    local kind = redis.call('TYPE', key)['ok']
    if kind ~= 'none' and kind ~= 'set' then fail(key .. ' is a ' .. kind .. ', not a set') end
  end
  return nil
end

local function addAll(key, values)
  for from = 1, #values, ${CHUNK} do
    redis.call('SADD', key, unpack(values, from, math.min(from + ${CHUNK - 1}, #values)))
  end
end

local ok, result = pcall(prepare)
if not ok then
  return redis.error_reply(type(result) == 'table' and result.err or tostring(result))
end
if result then return result end

-- Nothing below can fail.
for _, key in ipairs(amountKeys) do redis.call('INCRBY', key, amounts[key]) end
for _, key in ipairs(memberKeys) do addAll(key, members[key]) end
for _, part in ipairs(parts) do
  if counts(part) then
    local newest = part.newestText
    if part.status ~= ${STATUS_RESET} and part.storedTimestamp
      and part.storedTimestamp > part.newestTimestamp then
      newest = part.storedText
    end
    redis.call('SET', part.appliedKey, part.lastText .. ':' .. newest, 'EX', ttl.applied)
  end
end
if #recentIds > 0 then
  addAll(recentKey, recentIds)
  redis.call('EXPIRE', recentKey, ttl.recent)
end
for _, key in ipairs(holdsToSet) do redis.call('SET', key, '${HOLD_COUNTED}', 'EX', ttl.hold) end
for _, key in ipairs(amountKeys) do redis.call('EXPIRE', key, ttl.data) end
for _, key in ipairs(memberKeys) do redis.call('EXPIRE', key, ttl.data) end
local reply = {'done', duplicates}
for _, part in ipairs(parts) do
  reply[#reply + 1] = part.status
  reply[#reply + 1] = part.before
end
return reply
`;

interface ParsedIncrements {
  counters: Array<{ key: string; amount: number }>;
  sets: Array<{ key: string; members: string[] }>;
}

interface ParsedPart {
  appliedKey: string;
  first: number;
  last: number;
  lastText: string;
  firstEventOffset: number;
  firstEventTimestamp: number;
  newestTimestamp: number;
  newestText: string;
  plain: Array<{ id: string; hold: string }>;
  increments: ParsedIncrements;
  toCheck: Array<{ id: string; hold: string; increments: ParsedIncrements }>;
  before: string;
  status: number;
  storedText?: string;
  storedTimestamp?: number;
}

/** The script's error reply (the embedded store answers a thrown Error as an error reply). */
const fail = (message: string): never => {
  throw new Error(`ERR analytics batch: ${message}`);
};

/** The Lua's steps in JavaScript, command for command, for the embedded store (no Lua there). */
const emulate = (call: ScriptCall, keys: string[], args: string[]): Array<number | string> => {
  let at = 0;
  const nextArg = (): string => {
    at += 1;
    const value = args[at - 1];
    if (value === undefined) return fail(`ARGV ends at ${at - 1} where more was expected`);
    return value;
  };
  const nextInt = (): [number, string] => {
    const value = nextArg();
    if (!/^-?\d+$/.test(value) || value.length > 16) {
      fail(`ARGV[${at}] is not an integer: ${value.slice(0, 40)}`);
    }
    return [Number(value), value];
  };
  const nextKey = (): string => {
    const [index] = nextInt();
    const key = keys[index - 1];
    if (key === undefined) return fail(`ARGV[${at}] names KEYS[${index}], which is missing`);
    return key;
  };
  const times = (count: number, read: () => void) => {
    for (let i = 0; i < count; i++) read();
  };
  const nextIncrements = (): ParsedIncrements => {
    const increments: ParsedIncrements = { counters: [], sets: [] };
    times(nextInt()[0], () => {
      const key = nextKey();
      increments.counters.push({ key, amount: nextInt()[0] });
    });
    times(nextInt()[0], () => {
      const key = nextKey();
      const members: string[] = [];
      times(nextInt()[0], () => members.push(nextArg()));
      increments.sets.push({ key, members });
    });
    return increments;
  };

  const ttl = { data: '', applied: '', hold: '', recent: '' };
  const window: string[] = [];
  const parts: ParsedPart[] = [];
  let recentKey = '';
  const amounts = new Map<string, number>();
  const members = new Map<string, string[]>();
  const recentIds: string[] = [];
  const holdsToSet: string[] = [];
  let duplicates = 0;
  const counts = (part: ParsedPart) =>
    part.status === STATUS_APPLIED || part.status === STATUS_RESET;
  const add = (increments: ParsedIncrements) => {
    for (const { key, amount } of increments.counters)
      amounts.set(key, (amounts.get(key) ?? 0) + amount);
    for (const set of increments.sets) {
      const list = members.get(set.key) ?? [];
      list.push(...set.members);
      members.set(set.key, list);
    }
  };

  const prepare = (): string[] | undefined => {
    ttl.data = nextInt()[1];
    ttl.applied = nextInt()[1];
    ttl.hold = nextInt()[1];
    ttl.recent = nextInt()[1];
    recentKey = nextKey();
    times(nextInt()[0], () => window.push(nextKey()));
    times(nextInt()[0], () => {
      const appliedKey = nextKey();
      const [first] = nextInt();
      const [last, lastText] = nextInt();
      const [firstEventOffset] = nextInt();
      const [firstEventTimestamp] = nextInt();
      const [newestTimestamp, newestText] = nextInt();
      const plain: ParsedPart['plain'] = [];
      times(nextInt()[0], () => {
        const id = nextArg();
        plain.push({ id, hold: nextKey() });
      });
      const increments = nextIncrements();
      const toCheck: ParsedPart['toCheck'] = [];
      times(nextInt()[0], () => {
        const id = nextArg();
        const hold = nextKey();
        toCheck.push({ id, hold, increments: nextIncrements() });
      });
      parts.push({
        appliedKey,
        first,
        last,
        lastText,
        firstEventOffset,
        firstEventTimestamp,
        newestTimestamp,
        newestText,
        plain,
        increments,
        toCheck,
        before: '-1',
        status: STATUS_APPLIED,
      });
    });
    if (at !== args.length) fail(`${args.length - at} ARGV left over after the last partition`);

    for (const part of parts) {
      const stored = call('GET', part.appliedKey) as string | null;
      if (stored === null) continue;
      const match = /^(-?\d+)(?::(-?\d+))?$/.exec(stored);
      if (!match) {
        fail(`${part.appliedKey} holds "${stored.slice(0, 40)}", not an applied offset`);
        continue;
      }
      const [, offsetText = '', stamp] = match;
      part.before = offsetText;
      part.storedText = stamp;
      part.storedTimestamp = stamp === undefined ? undefined : Number(stamp);
      const offset = Number(offsetText);
      if (
        part.storedTimestamp !== undefined &&
        part.firstEventOffset <= offset &&
        part.firstEventTimestamp > part.storedTimestamp
      ) {
        part.status = STATUS_RESET;
      } else if (offset >= part.last) part.status = STATUS_ALREADY_APPLIED;
      else if (offset >= part.first) part.status = STATUS_OVERLAPS;
    }

    const plain = parts.filter(counts).flatMap((part) => part.plain);
    let found = 0;
    for (let from = 0; from < plain.length; from += CHUNK) {
      found += call('EXISTS', ...plain.slice(from, from + CHUNK).map(({ hold }) => hold)) as number;
    }
    if (found > 0) {
      return [
        'held',
        ...plain.filter(({ hold }) => call('EXISTS', hold) === 1).map(({ id }) => id),
      ];
    }

    for (const part of parts.filter(counts)) {
      add(part.increments);
      recentIds.push(...part.plain.map(({ id }) => id));
      for (const event of part.toCheck) {
        const hold = call('GET', event.hold) as string | null;
        let seen = false;
        if (hold === HOLD_COUNTED) seen = true;
        else if (hold !== null && hold !== HOLD_PENDING) {
          fail(`${event.hold} holds "${hold.slice(0, 40)}", not a hold`);
        } else if (hold === null) {
          seen = window.some((key) => call('SISMEMBER', key, event.id) === 1);
        }
        if (seen) duplicates += 1;
        else {
          add(event.increments);
          recentIds.push(event.id);
          holdsToSet.push(event.hold);
        }
      }
    }

    for (const [key, amount] of amounts) {
      const value = call('GET', key) as string | null;
      const number = value !== null && /^-?\d+$/.test(value) ? Number(value) : undefined;
      if (value !== null && number === undefined) {
        fail(`${key} holds "${value.slice(0, 40)}", not a counter`);
      }
      if (Math.abs((number ?? 0) + amount) >= COUNTER_LIMIT) {
        fail(`${key} would pass 10^15 (it holds ${value ?? 'nil'})`);
      }
    }
    const sets = [...members.keys(), ...(recentIds.length > 0 ? [recentKey] : [])];
    for (const key of sets) {
      const kind = call('TYPE', key) as string;
      if (kind !== 'none' && kind !== 'set') fail(`${key} is a ${kind}, not a set`);
    }
    return undefined;
  };

  const addAll = (key: string, values: string[]) => {
    for (let from = 0; from < values.length; from += CHUNK) {
      call('SADD', key, ...values.slice(from, from + CHUNK));
    }
  };

  // An error in prepare leaves nothing written, as the Lua's pcall does.
  const held = prepare();
  if (held) return held;

  for (const [key, amount] of amounts) call('INCRBY', key, amount);
  for (const [key, list] of members) addAll(key, list);
  for (const part of parts.filter(counts)) {
    const newest =
      part.status !== STATUS_RESET &&
      part.storedTimestamp !== undefined &&
      part.storedTimestamp > part.newestTimestamp
        ? part.storedText
        : part.newestText;
    call('SET', part.appliedKey, `${part.lastText}:${newest}`, 'EX', ttl.applied);
  }
  if (recentIds.length > 0) {
    addAll(recentKey, recentIds);
    call('EXPIRE', recentKey, ttl.recent);
  }
  for (const key of holdsToSet) call('SET', key, HOLD_COUNTED, 'EX', ttl.hold);
  for (const key of amounts.keys()) call('EXPIRE', key, ttl.data);
  for (const key of members.keys()) call('EXPIRE', key, ttl.data);
  return ['done', duplicates, ...parts.flatMap((part) => [part.status, part.before])];
};

export const APPLY_ANALYTICS_BATCH = defineScript({
  name: 'apply an analytics batch once per partition offset and event',
  lua: LUA,
  emulate,
});

/** KEYS and ARGV for APPLY_ANALYTICS_BATCH: each key once, referenced by its 1-based index. */
export const encodeBatch = (
  parts: readonly PartitionIncrements[],
  ttls: ScriptTtls,
  recent: RecentTraces,
): { keys: string[]; args: string[] } => {
  const keys: string[] = [];
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
  // Hold keys go by their eventId, whose hash the batch's duplicate check has computed
  // already: looking up the freshly built key would flatten and hash it first, per event.
  const holdIndexes = new Map<string, string>();
  const holdRef = (eventId: string, holdKey: string): string => {
    let index = holdIndexes.get(eventId);
    if (index === undefined) {
      keys.push(holdKey);
      index = String(keys.length);
      holdIndexes.set(eventId, index);
    }
    return index;
  };
  const args: string[] = [];
  const pushIncrements = ({ counters, sets }: DailyIncrements) => {
    const filled = [...sets].filter(([, members]) => members.size > 0);
    args.push(String(counters.size));
    for (const [key, amount] of counters) args.push(ref(key), String(amount));
    args.push(String(filled.length));
    for (const [key, members] of filled) args.push(ref(key), String(members.size), ...members);
  };
  const checking = parts.some((part) => part.toCheck.length > 0);
  // The window is read only to check events; a batch without any passes none of its keys.
  const window = checking ? recent.window : [];
  args.push(
    String(ttls.data),
    String(ttls.applied),
    String(ttls.hold),
    String(ttls.recent),
    ref(recent.current),
    String(window.length),
    ...window.map(ref),
    String(parts.length),
  );
  for (const part of parts) {
    args.push(
      ref(part.appliedKey),
      String(part.firstOffset),
      String(part.lastOffset),
      String(part.firstEventOffset),
      String(part.firstEventTimestamp),
      String(part.newestTimestamp),
      String(part.plain.length),
    );
    for (const { eventId, holdKey } of part.plain) args.push(eventId, holdRef(eventId, holdKey));
    pushIncrements(part.increments);
    args.push(String(part.toCheck.length));
    for (const { eventId, holdKey, increments } of part.toCheck) {
      args.push(eventId, holdRef(eventId, holdKey));
      pushIncrements(increments);
    }
  }
  return { keys, args };
};

const VERDICTS: Record<number, PartitionVerdict['status']> = {
  [STATUS_APPLIED]: 'applied',
  [STATUS_RESET]: 'reset',
  [STATUS_ALREADY_APPLIED]: 'already-applied',
  [STATUS_OVERLAPS]: 'overlaps',
};

/**
 * Reads the script's reply. Tolerant of @upstash/redis turning numeric strings into numbers.
 * @throws Error when the reply is not one the script gives.
 */
export const decodeReply = (reply: unknown, partitions: number): BatchReply => {
  const unexpected = () =>
    new Error(
      `${APPLY_ANALYTICS_BATCH.name}: unexpected reply ${JSON.stringify(reply)?.slice(0, 200)}`,
    );
  if (!Array.isArray(reply)) throw unexpected();
  const [outcome, ...rest] = reply;
  if (outcome === 'held') return { outcome: 'held', eventIds: rest.map(String) };
  if (outcome !== 'done' || rest.length !== 1 + partitions * 2) throw unexpected();
  const verdicts = Array.from({ length: partitions }, (_, i): PartitionVerdict => {
    const status = VERDICTS[Number(rest[1 + 2 * i])];
    if (status === undefined) throw unexpected();
    return status === 'overlaps'
      ? { status, appliedThrough: Number(rest[2 + 2 * i]) }
      : ({ status } as PartitionVerdict);
  });
  return { outcome: 'done', duplicates: Number(rest[0]), verdicts };
};
