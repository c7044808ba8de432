import { findScript, type RedisScript, type ScriptCall } from '../../lib/redis/scripts.ts';
import { type Keyspace, ReplyError } from './redis-keyspace.ts';

/**
 * The Redis commands the Narad functions use (and their close relatives), with Redis's own
 * replies and error messages, over the embedded keyspace. Scripts run their JavaScript mirror
 * (lib/redis/scripts.ts); anything else is refused as Redis refuses an unknown command.
 * One file over 300 lines on purpose: it is the command table, one entry per command.
 */

type Reply = string | number | null | Reply[];

/**
 * Finds the JavaScript mirror of a script by its Lua text or SHA1. The caller's own lookup: under
 * serverless offline each function bundle declares its scripts in its own copy of
 * lib/redis/scripts.ts (lib/embedded-parts.ts).
 */
export type ScriptLookup = (luaOrSha: string) => RedisScript<unknown> | undefined;

type Command = (keyspace: Keyspace, args: string[], scripts: ScriptLookup) => Reply;

const NOT_INTEGER = 'ERR value is not an integer or out of range';

const integer = (text: string | undefined): number => {
  if (text === undefined || !/^-?\d+$/.test(text)) throw new ReplyError(NOT_INTEGER);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new ReplyError(NOT_INTEGER);
  return value;
};

const arity =
  (name: string, min: number, run: Command): Command =>
  (keyspace, args, scripts) => {
    if (args.length < min)
      throw new ReplyError(`ERR wrong number of arguments for '${name}' command`);
    return run(keyspace, args, scripts);
  };

/** Redis's glob (`*`, `?`, `[abc]`, `\x`) as a RegExp; `*` also matches `:`. */
export const globToRegExp = (pattern: string): RegExp => {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else if (char === '\\' && i + 1 < pattern.length) source += `\\${pattern[++i]}`;
    else if (char === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) source += '\\[';
      else {
        const body = pattern.slice(i + 1, end).replace(/^\^/, '!');
        source += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else source += char.replace(/[.+^${}()|\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
};

/** Python-style bounds of LRANGE / LTRIM: negative counts from the end, clamped. */
const span = (length: number, startText: string, stopText: string) => {
  let start = integer(startText);
  let stop = integer(stopText);
  if (start < 0) start = Math.max(0, length + start);
  if (stop < 0) stop = length + stop;
  return { start, stop: Math.min(stop, length - 1) };
};

const expireAfter = (keyspace: Keyspace, key: string, ms: number): number =>
  keyspace.setExpiry(key, keyspace.clock + ms) ? 1 : 0;

const remaining = (keyspace: Keyspace, key: string, unitMs: number): number => {
  const expiresAt = keyspace.expiryOf(key);
  if (expiresAt === undefined) return -2;
  if (expiresAt === Number.POSITIVE_INFINITY) return -1;
  return Math.round((expiresAt - keyspace.clock) / unitMs);
};

const incrementBy = (keyspace: Keyspace, key: string, amount: number): number => {
  const current = keyspace.read(key, 'string');
  const next = (current === undefined ? 0 : integer(current)) + amount;
  if (!Number.isSafeInteger(next)) throw new ReplyError(NOT_INTEGER);
  keyspace.write(
    key,
    { type: 'string', value: String(next) },
    keyspace.expiryOf(key) ?? Number.POSITIVE_INFINITY,
  );
  return next;
};

const set: Command = (keyspace, [key = '', value = '', ...options]) => {
  let expiresAt = Number.POSITIVE_INFINITY;
  let condition: 'NX' | 'XX' | undefined;
  let returnOld = false;
  let keepTtl = false;
  for (let i = 0; i < options.length; i++) {
    const option = options[i]?.toUpperCase();
    if (option === 'EX' || option === 'PX') {
      const amount = integer(options[++i]);
      if (amount <= 0) throw new ReplyError("ERR invalid expire time in 'set' command");
      expiresAt = keyspace.clock + amount * (option === 'EX' ? 1000 : 1);
    } else if (option === 'NX' || option === 'XX') condition = option;
    else if (option === 'GET') returnOld = true;
    else if (option === 'KEEPTTL') keepTtl = true;
    else throw new ReplyError('ERR syntax error');
  }
  const old = returnOld ? (keyspace.read(key, 'string') ?? null) : null;
  const exists = keyspace.lookup(key) !== undefined;
  if ((condition === 'NX' && exists) || (condition === 'XX' && !exists)) return null;
  if (keepTtl) expiresAt = keyspace.expiryOf(key) ?? Number.POSITIVE_INFINITY;
  keyspace.write(key, { type: 'string', value }, expiresAt);
  return returnOld ? old : 'OK';
};

const push =
  (end: 'head' | 'tail'): Command =>
  (keyspace, [key = '', ...values]) => {
    const list = keyspace.upsert(key, 'list');
    if (end === 'head') for (const value of values) list.unshift(value);
    else list.push(...values);
    return list.length;
  };

const pop =
  (end: 'head' | 'tail'): Command =>
  (keyspace, [key = '', countText]) => {
    const list = keyspace.read(key, 'list');
    if (list === undefined) return null;
    const count = countText === undefined ? 1 : integer(countText);
    const taken = end === 'head' ? list.splice(0, count) : list.splice(-count).reverse();
    keyspace.dropIfEmpty(key);
    return countText === undefined ? (taken[0] ?? null) : taken;
  };

const scan: Command = (keyspace, [cursorText = '0', ...options]) => {
  let pattern: RegExp | undefined;
  let count = 10;
  let type: string | undefined;
  for (let i = 0; i < options.length; i++) {
    const option = options[i]?.toUpperCase();
    if (option === 'MATCH') pattern = globToRegExp(options[++i] ?? '*');
    else if (option === 'COUNT') count = integer(options[++i]);
    else if (option === 'TYPE') type = options[++i]?.toLowerCase();
    else throw new ReplyError('ERR syntax error');
  }
  // The cursor is a position in the insertion-ordered key list: keys written during a scan
  // come after it, so a full iteration still returns every key that lived throughout.
  const keys = keyspace.keys();
  const start = integer(cursorText);
  const page = keys.slice(start, start + count);
  const next = start + count >= keys.length ? 0 : start + count;
  return [
    String(next),
    page.filter(
      (key) =>
        (pattern === undefined || pattern.test(key)) &&
        (type === undefined || keyspace.lookup(key)?.type === type),
    ),
  ];
};

const evalScript =
  (by: 'lua' | 'sha'): Command =>
  (keyspace, [source = '', keyCountText = '0', ...rest], scripts) => {
    const script = scripts(source);
    if (script === undefined) {
      throw new ReplyError(
        by === 'sha'
          ? 'NOSCRIPT No matching script. Please use EVAL.'
          : 'ERR the embedded store runs only scripts declared with defineScript (lib/redis/scripts.ts)',
      );
    }
    const keyCount = integer(keyCountText);
    const call: ScriptCall = (name, ...args) => runCommand(keyspace, [name, ...args], scripts);
    return script.emulate(call, rest.slice(0, keyCount), rest.slice(keyCount)) as Reply;
  };

const COMMANDS: Record<string, Command> = {
  PING: (_, [message]) => message ?? 'PONG',
  ECHO: arity('echo', 1, (_, [message = '']) => message),
  GET: arity('get', 1, (keyspace, [key = '']) => keyspace.read(key, 'string') ?? null),
  SET: arity('set', 2, set),
  GETDEL: arity('getdel', 1, (keyspace, [key = '']) => {
    const value = keyspace.read(key, 'string') ?? null;
    keyspace.delete(key);
    return value;
  }),
  MGET: arity('mget', 1, (keyspace, keys) =>
    keys.map((key) => {
      const entry = keyspace.lookup(key);
      return entry?.type === 'string' ? entry.value : null;
    }),
  ),
  DEL: arity('del', 1, (keyspace, keys) => keys.filter((key) => keyspace.delete(key)).length),
  EXISTS: arity(
    'exists',
    1,
    (keyspace, keys) => keys.filter((key) => keyspace.lookup(key) !== undefined).length,
  ),
  TYPE: arity('type', 1, (keyspace, [key = '']) => keyspace.lookup(key)?.type ?? 'none'),
  EXPIRE: arity('expire', 2, (keyspace, [key = '', seconds]) =>
    expireAfter(keyspace, key, integer(seconds) * 1000),
  ),
  PEXPIRE: arity('pexpire', 2, (keyspace, [key = '', ms]) =>
    expireAfter(keyspace, key, integer(ms)),
  ),
  TTL: arity('ttl', 1, (keyspace, [key = '']) => remaining(keyspace, key, 1000)),
  PTTL: arity('pttl', 1, (keyspace, [key = '']) => remaining(keyspace, key, 1)),
  INCR: arity('incr', 1, (keyspace, [key = '']) => incrementBy(keyspace, key, 1)),
  DECR: arity('decr', 1, (keyspace, [key = '']) => incrementBy(keyspace, key, -1)),
  INCRBY: arity('incrby', 2, (keyspace, [key = '', amount]) =>
    incrementBy(keyspace, key, integer(amount)),
  ),
  DECRBY: arity('decrby', 2, (keyspace, [key = '', amount]) =>
    incrementBy(keyspace, key, -integer(amount)),
  ),
  SADD: arity('sadd', 2, (keyspace, [key = '', ...members]) => {
    const set = keyspace.upsert(key, 'set');
    const before = set.size;
    for (const member of members) set.add(member);
    return set.size - before;
  }),
  SREM: arity('srem', 2, (keyspace, [key = '', ...members]) => {
    const set = keyspace.read(key, 'set');
    if (set === undefined) return 0;
    const removed = members.filter((member) => set.delete(member)).length;
    keyspace.dropIfEmpty(key);
    return removed;
  }),
  SCARD: arity('scard', 1, (keyspace, [key = '']) => keyspace.read(key, 'set')?.size ?? 0),
  SMEMBERS: arity('smembers', 1, (keyspace, [key = '']) => [...(keyspace.read(key, 'set') ?? [])]),
  SISMEMBER: arity('sismember', 2, (keyspace, [key = '', member = '']) =>
    keyspace.read(key, 'set')?.has(member) ? 1 : 0,
  ),
  LPUSH: arity('lpush', 2, push('head')),
  RPUSH: arity('rpush', 2, push('tail')),
  LPOP: arity('lpop', 1, pop('head')),
  RPOP: arity('rpop', 1, pop('tail')),
  LLEN: arity('llen', 1, (keyspace, [key = '']) => keyspace.read(key, 'list')?.length ?? 0),
  LRANGE: arity('lrange', 3, (keyspace, [key = '', start = '', stop = '']) => {
    const list = keyspace.read(key, 'list') ?? [];
    const bounds = span(list.length, start, stop);
    return bounds.start > bounds.stop ? [] : list.slice(bounds.start, bounds.stop + 1);
  }),
  LTRIM: arity('ltrim', 3, (keyspace, [key = '', start = '', stop = '']) => {
    const list = keyspace.read(key, 'list');
    if (list === undefined) return 'OK';
    const bounds = span(list.length, start, stop);
    const kept = bounds.start > bounds.stop ? [] : list.slice(bounds.start, bounds.stop + 1);
    list.splice(0, list.length, ...kept);
    keyspace.dropIfEmpty(key);
    return 'OK';
  }),
  HSET: arity('hset', 3, (keyspace, [key = '', ...pairs]) => {
    if (pairs.length % 2 !== 0)
      throw new ReplyError("ERR wrong number of arguments for 'hset' command");
    const hash = keyspace.upsert(key, 'hash');
    let added = 0;
    for (let i = 0; i < pairs.length; i += 2) {
      if (!hash.has(pairs[i] as string)) added++;
      hash.set(pairs[i] as string, pairs[i + 1] as string);
    }
    return added;
  }),
  HGET: arity(
    'hget',
    2,
    (keyspace, [key = '', field = '']) => keyspace.read(key, 'hash')?.get(field) ?? null,
  ),
  HMGET: arity('hmget', 2, (keyspace, [key = '', ...fields]) => {
    const hash = keyspace.read(key, 'hash');
    return fields.map((field) => hash?.get(field) ?? null);
  }),
  HGETALL: arity('hgetall', 1, (keyspace, [key = '']) =>
    [...(keyspace.read(key, 'hash') ?? new Map<string, string>())].flat(),
  ),
  HDEL: arity('hdel', 2, (keyspace, [key = '', ...fields]) => {
    const hash = keyspace.read(key, 'hash');
    if (hash === undefined) return 0;
    const removed = fields.filter((field) => hash.delete(field)).length;
    keyspace.dropIfEmpty(key);
    return removed;
  }),
  HINCRBY: arity('hincrby', 3, (keyspace, [key = '', field = '', amount]) => {
    const hash = keyspace.upsert(key, 'hash');
    const current = hash.get(field);
    const next = (current === undefined ? 0 : integer(current)) + integer(amount);
    hash.set(field, String(next));
    return next;
  }),
  SCAN: arity('scan', 1, scan),
  KEYS: arity('keys', 1, (keyspace, [pattern = '*']) =>
    keyspace.keys().filter((key) => globToRegExp(pattern).test(key)),
  ),
  DBSIZE: (keyspace) => keyspace.keys().length,
  FLUSHDB: (keyspace) => {
    keyspace.clear();
    return 'OK';
  },
  FLUSHALL: (keyspace) => {
    keyspace.clear();
    return 'OK';
  },
  EVAL: arity('eval', 2, evalScript('lua')),
  EVALSHA: arity('evalsha', 2, evalScript('sha')),
};

/**
 * Runs one command (`['SET', 'k', 'v', 'EX', '60']`); arguments are stringified as Redis
 * receives them; EVAL and EVALSHA run the mirror `scripts` finds (default: the scripts this copy
 * of lib/redis/scripts.ts knows). @throws ReplyError with Redis's own message.
 */
export const runCommand = (
  keyspace: Keyspace,
  [name, ...args]: unknown[],
  scripts: ScriptLookup = findScript,
): Reply => {
  const command = COMMANDS[String(name).toUpperCase()];
  if (command === undefined) {
    throw new ReplyError(
      `ERR unknown command '${String(name)}' (the embedded store has ${Object.keys(COMMANDS).length} commands; see local/embedded/redis-commands.ts)`,
    );
  }
  return command(
    keyspace,
    args.map((arg) => (typeof arg === 'string' ? arg : JSON.stringify(arg))),
    scripts,
  );
};
