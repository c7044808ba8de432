import { type orderKeys, TTL } from '../keys.ts';
import { defineScript, type ScriptCall } from '../redis/scripts.ts';

type OrderKeys = ReturnType<typeof orderKeys>;

/**
 * A batch of orders in two Redis requests (process-order.ts): BEGIN_ORDERS claims every order
 * of the batch that is not done, FINISH_ORDERS writes what their steps decided. One request per
 * order was what the client cost most (a command object ~5 µs, a pipeline ~2 µs to create), so
 * the per-order writes travel as ARGV of one EVAL instead. The values are JSON the caller built;
 * the scripts only place them. Each Lua sits beside its JavaScript mirror (the embedded store
 * runs the mirror), and test/integration/analytics-batch-script.test.ts runs both on the same
 * inputs and compares (beside the analytics batch script).
 */

/** KEYS per order of BEGIN_ORDERS, in this order. */
export const BEGIN_KEYS_PER_ORDER = 5;

// KEYS: per order its state, result, error, attempts and processing keys.
// ARGV: attempts TTL, processing TTL, state TTL; per order its processing and state values.
// Replies per order 0 (done: a result; state completed; state failed and not dead-lettered; an
// error not dead-lettered) or its attempts after INCR (claimed: processing and state written,
// the old error of a dead-lettered order deleted).
const BEGIN_LUA = `#!lua flags=allow-key-locking
local function object(value)
  if not value then return nil end
  local ok, parsed = pcall(cjson.decode, value)
  if ok and type(parsed) == 'table' then return parsed end
  return {}
end
local replies = {}
for i = 1, #KEYS / ${BEGIN_KEYS_PER_ORDER} do
  local k = (i - 1) * ${BEGIN_KEYS_PER_ORDER}
  local state = object(redis.call('GET', KEYS[k + 1]))
  local result = redis.call('GET', KEYS[k + 2])
  local err = object(redis.call('GET', KEYS[k + 3]))
  local done = result ~= false
    or (state ~= nil and (state.status == 'completed'
      or (state.status == 'failed' and state.deadLettered ~= true)))
    or (err ~= nil and err.deadLettered ~= true)
  if done then
    replies[i] = 0
  else
    replies[i] = redis.call('INCR', KEYS[k + 4])
    redis.call('EXPIRE', KEYS[k + 4], ARGV[1])
    redis.call('SET', KEYS[k + 5], ARGV[2 + 2 * i], 'EX', ARGV[2])
    redis.call('SET', KEYS[k + 1], ARGV[3 + 2 * i], 'EX', ARGV[3])
    redis.call('DEL', KEYS[k + 3])
  end
end
return replies
`;

/** A stored JSON value as the Lua's `object` reads it: absent, an object, or {} for anything else. */
const object = (value: unknown): Record<string, unknown> | undefined => {
  if (typeof value !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};

export const BEGIN_ORDERS = defineScript({
  name: 'claim the orders of a batch that are not done',
  lua: BEGIN_LUA,
  emulate: (call: ScriptCall, keys: string[], args: string[]): number[] => {
    const replies: number[] = [];
    for (let i = 0; i < keys.length / BEGIN_KEYS_PER_ORDER; i++) {
      const [stateKey = '', resultKey = '', errorKey = '', attemptsKey = '', processingKey = ''] =
        keys.slice(i * BEGIN_KEYS_PER_ORDER, (i + 1) * BEGIN_KEYS_PER_ORDER);
      const state = object(call('GET', stateKey));
      const result = call('GET', resultKey);
      const error = object(call('GET', errorKey));
      const done =
        result !== null ||
        (state !== undefined &&
          (state.status === 'completed' ||
            (state.status === 'failed' && state.deadLettered !== true))) ||
        (error !== undefined && error.deadLettered !== true);
      if (done) {
        replies.push(0);
        continue;
      }
      replies.push(call('INCR', attemptsKey) as number);
      call('EXPIRE', attemptsKey, args[0] ?? '');
      call('SET', processingKey, args[3 + 2 * i] ?? '', 'EX', args[1] ?? '');
      call('SET', stateKey, args[4 + 2 * i] ?? '', 'EX', args[2] ?? '');
      call('DEL', errorKey);
    }
    return replies;
  },
});

/** KEYS and ARGV of BEGIN_ORDERS: each order's keys, its processing and state values (JSON). */
export const encodeBegin = (
  claims: ReadonlyArray<{ keys: OrderKeys; processing: string; state: string }>,
): { keys: string[]; args: Array<string | number> } => {
  const keys: string[] = [];
  const args: Array<string | number> = [TTL.orderResult, TTL.orderProcessing, TTL.orderState];
  for (const { keys: k, processing, state } of claims) {
    keys.push(k.state, k.result, k.error, k.attempts, k.processing);
    args.push(processing, state);
  }
  return { keys, args };
};

/** KEYS per order run of FINISH_ORDERS, in this order. */
export const FINISH_KEYS_PER_RUN = 3;

// KEYS: per order run its result or error key, its state and processing keys; then the
// attempts key of each order claimed and not run (released).
// ARGV: how many orders ran, state TTL; per order run the result or error value, its TTL, the
// state value. Replies how many attempts it gave back.
const FINISH_LUA = `#!lua flags=allow-key-locking
local runs = tonumber(ARGV[1])
for i = 1, runs do
  local k, a = (i - 1) * ${FINISH_KEYS_PER_RUN}, 3 * i
  redis.call('SET', KEYS[k + 1], ARGV[a], 'EX', ARGV[a + 1])
  redis.call('SET', KEYS[k + 2], ARGV[a + 2], 'EX', ARGV[2])
  redis.call('DEL', KEYS[k + 3])
end
local released = 0
for i = runs * ${FINISH_KEYS_PER_RUN} + 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('DECR', KEYS[i])
    released = released + 1
  end
end
return released
`;

export const FINISH_ORDERS = defineScript({
  name: 'write what the steps of a batch of orders decided',
  lua: FINISH_LUA,
  emulate: (call: ScriptCall, keys: string[], args: string[]): number => {
    const runs = Number(args[0]);
    for (let i = 0; i < runs; i++) {
      const [target = '', state = '', processing = ''] = keys.slice(
        i * FINISH_KEYS_PER_RUN,
        (i + 1) * FINISH_KEYS_PER_RUN,
      );
      const a = 3 * (i + 1) - 1;
      call('SET', target, args[a] ?? '', 'EX', args[a + 1] ?? '');
      call('SET', state, args[a + 2] ?? '', 'EX', args[1] ?? '');
      call('DEL', processing);
    }
    let released = 0;
    for (const attempts of keys.slice(runs * FINISH_KEYS_PER_RUN)) {
      if (call('EXISTS', attempts) !== 1) continue;
      call('DECR', attempts);
      released += 1;
    }
    return released;
  },
});

/** What FINISH_ORDERS writes for one order run: its result or error (JSON), and its state. */
export interface RunWrite {
  keys: OrderKeys;
  /** `keys.result` or `keys.error`. */
  target: string;
  value: string;
  ttl: number;
  state: string;
}

/** KEYS and ARGV of FINISH_ORDERS: the writes of the runs, and the orders released. */
export const encodeFinish = (
  runs: readonly RunWrite[],
  released: readonly OrderKeys[],
): { keys: string[]; args: Array<string | number> } => {
  const keys: string[] = [];
  const args: Array<string | number> = [runs.length, TTL.orderState];
  for (const { keys: k, target, value, ttl, state } of runs) {
    keys.push(target, k.state, k.processing);
    args.push(value, ttl, state);
  }
  for (const k of released) keys.push(k.attempts);
  return { keys, args };
};
