/**
 * Upstash's script flags on a Redis 7.0.
 *
 * Upstash runs a Lua script under the database's global lock unless its first line is a shebang
 * declaring `#!lua flags=allow-key-locking`; then it locks only the keys passed in KEYS, refuses
 * a `redis.call` on any other key ("ERR Dynamic keys are not allowed in Lua scripts when
 * 'allow-key-locking' flag is set. Key was: <key>") and refuses database-wide commands such as
 * FLUSHDB (upstash.com/docs/redis/features/key-locking). Redis 7.0 understands `#!lua flags=...`
 * but refuses a flag it does not know ("ERR Unexpected flag in script shebang:
 * allow-key-locking"); its own flags are no-writes, allow-oom, allow-stale, no-cluster and
 * allow-cross-slot-keys.
 *
 * So the gateway rewrites a script declaring an Upstash-only flag: the flag leaves the shebang
 * (the flags Redis knows stay, so `no-writes` still means what it means on both), and a prelude
 * holds the script to Upstash's rules, so a script that would fail on Upstash fails here too.
 * Scripts without such a flag are sent as they are.
 */

/** Flags Upstash accepts in a shebang that Redis 7.0 refuses. */
const UPSTASH_ONLY_FLAGS = new Set(['allow-key-locking']);

const FLAGS_OPTION = /^flags=/i;

// Shadows the global `redis` for the rest of the chunk: every redis.call / redis.pcall first asks
// Redis itself which arguments are keys (COMMAND GETKEYS, exact for every command, movable keys
// included) and refuses one not in KEYS with Upstash's own error text. One line, placed before
// the script's second line, so the script's own line numbers stay what they were.
const KEY_LOCKING_PRELUDE = [
  'local redis = (function(real)',
  'local declared = {}',
  'for _, key in ipairs(KEYS) do declared[key] = true end',
  'local databaseWide = { flushall = true, flushdb = true, swapdb = true }',
  'local function refusal(command, ...)',
  'local name = string.lower(tostring(command))',
  'if databaseWide[name] then',
  `return real.error_reply("ERR '" .. name .. "' is not allowed in Lua scripts when 'allow-key-locking' flag is set: it needs the whole database; run such a script without the flag") end`,
  "local keys = real.pcall('COMMAND', 'GETKEYS', command, ...)",
  "if type(keys) ~= 'table' or keys.err then return nil end",
  'for _, key in ipairs(keys) do',
  'if not declared[key] then',
  `return real.error_reply("ERR Dynamic keys are not allowed in Lua scripts when 'allow-key-locking' flag is set. Key was: " .. key) end`,
  'end',
  'return nil end',
  'return setmetatable({',
  'call = function(...) local refused = refusal(...) if refused then error(refused) end return real.call(...) end,',
  'pcall = function(...) local refused = refusal(...) if refused then return refused end return real.pcall(...) end',
  '}, { __index = real })',
  'end)(redis); ',
].join(' ');

/** What a shebang declares, as Redis 7.0 reads it (`#!lua` then space-separated options). */
interface Shebang {
  /** The options after `#!lua`, in order. */
  options: string[];
  /** The script after the shebang's line break. */
  body: string;
}

const parseShebang = (script: string): Shebang | undefined => {
  if (!script.startsWith('#!')) return undefined;
  const lineEnd = script.indexOf('\n');
  // Redis refuses a shebang without a line break; leave the script for it to say so.
  if (lineEnd === -1) return undefined;
  const [engine, ...options] = script.slice(0, lineEnd).trim().split(/\s+/);
  if (engine !== '#!lua') return undefined;
  return { options, body: script.slice(lineEnd + 1) };
};

/**
 * Rewrites a script for Redis 7.0 when its shebang declares a flag only Upstash knows.
 *
 * Returns the script to send instead (the Upstash-only flags removed from the shebang, the
 * key-locking prelude before the script's second line), or undefined when the script can go as
 * it is (no shebang, no Upstash-only flag, or a shebang Redis will refuse with its own error).
 * Never throws. The result depends only on `script`, so every gateway rewrites a script alike.
 */
export const translateScript = (script: string): string | undefined => {
  const shebang = parseShebang(script);
  if (shebang === undefined) return undefined;
  let keyLocking = false;
  const options = shebang.options.flatMap((option) => {
    if (!FLAGS_OPTION.test(option)) return [option];
    const flags = option.slice('flags='.length).split(',');
    const kept = flags.filter((flag) => !UPSTASH_ONLY_FLAGS.has(flag));
    if (kept.length === flags.length) return [option];
    keyLocking = true;
    return kept.length > 0 ? [`flags=${kept.join(',')}`] : [];
  });
  if (!keyLocking) return undefined;
  return `${['#!lua', ...options].join(' ')}\n${KEY_LOCKING_PRELUDE}${shebang.body}`;
};
