import type { RedisCommand } from './command-parsing.ts';

// These change the state of the connection they run on. Every HTTP request shares one Redis
// connection, so one of them would corrupt the answers of every other request (a SELECT moves
// everyone to another database, a SUBSCRIBE stops all replies, a MULTI swallows them).
const CONNECTION_STATE =
  'it would change the state of the Redis connection shared by all requests (use /multi-exec for transactions, /subscribe/<channel> and /psubscribe/<pattern> for pub/sub)';
const CONNECTION_STATE_COMMANDS = [
  'auth',
  'discard',
  'exec',
  'hello',
  'monitor',
  'multi',
  'psubscribe',
  'psync',
  'punsubscribe',
  'quit',
  'replconf',
  'reset',
  'select',
  'ssubscribe',
  'subscribe',
  'sunsubscribe',
  'sync',
  'unsubscribe',
  'unwatch',
  'watch',
];

// Server administration. Upstash's server commands are ACL, COMMAND, CONFIG GET, CONFIG SET
// (notify-keyspace-events only), DBSIZE, FLUSHALL, FLUSHDB, INFO, MONITOR and TIME, and its
// CLIENT subcommands GETNAME, ID, INFO, LIST, SETINFO and SETNAME
// (upstash.com/docs/redis/commands/server/overview, .../connection/overview): the rest is
// refused there, and here it would reach a Redis that other developers and tests share.
const ADMINISTRATION =
  'Upstash does not run it, and here it would stop, slow down or reconfigure the local Redis that every developer tool and test shares';
const ADMINISTRATION_COMMANDS = [
  'bgrewriteaof',
  'bgsave',
  'debug',
  'failover',
  'migrate',
  'module',
  'replicaof',
  'save',
  'shutdown',
  'slaveof',
];

// Upstash has one database per endpoint; these reach across databases.
const ONE_DATABASE =
  'an Upstash database has one keyspace (database 0), so there is nothing to move to';
const ONE_DATABASE_COMMANDS = ['move', 'swapdb'];

// Upstash runs FLUSHALL and FLUSHDB, but there they empty a database of the application's own.
// The local Redis holds everything at once: the data `npm start` shows, the keys of tests running
// beside this one, other checkouts' gateways. A stray flush from a test or a script would wipe all
// of it, so the gateway refuses and says how to do it on purpose.
const FLUSH =
  "it would delete every key of the local Redis, which holds npm start's data and the keys of tests running beside yours (on Upstash it empties a database of your own); delete your own keys with DEL or UNLINK, or run `redis-cli -u $REDIS_URL FLUSHALL` if you really mean to wipe the local Redis";
const FLUSH_COMMANDS = ['flushall', 'flushdb'];

const REFUSED_COMMANDS = new Map<string, string>([
  ...CONNECTION_STATE_COMMANDS.map((name): [string, string] => [name, CONNECTION_STATE]),
  ...ADMINISTRATION_COMMANDS.map((name): [string, string] => [name, ADMINISTRATION]),
  ...ONE_DATABASE_COMMANDS.map((name): [string, string] => [name, ONE_DATABASE]),
  ...FLUSH_COMMANDS.map((name): [string, string] => [name, FLUSH]),
]);

// Per command, the subcommands that may run (everything else of that command is refused).
const ALLOWED_CLIENT_SUBCOMMANDS = new Set([
  'getname',
  'getredir',
  'help',
  'id',
  'info',
  'list',
  'setinfo',
  'setname',
]);
const ALLOWED_ACL_SUBCOMMANDS = new Set([
  'cat',
  'dryrun',
  'genpass',
  'getuser',
  'help',
  'list',
  'log',
  'users',
  'whoami',
]);
const ALLOWED_CONFIG_SUBCOMMANDS = new Set(['get', 'help']);
/** The one parameter Upstash lets CONFIG SET change (upstash.com/docs/redis/commands/server/config-set). */
const CONFIG_SET_PARAMETER = 'notify-keyspace-events';

const refusalOfSubcommand = (
  name: string,
  subcommand: string,
  args: string[],
): string | undefined => {
  if (name === 'client') {
    if (['reply', 'tracking', 'caching'].includes(subcommand)) return CONNECTION_STATE;
    if (ALLOWED_CLIENT_SUBCOMMANDS.has(subcommand)) return undefined;
    return "Upstash runs only CLIENT GETNAME, ID, INFO, LIST, SETINFO and SETNAME, and this one would pause, kill or reconfigure the connections of everything using the local Redis, this gateway's own included";
  }
  if (name === 'acl') {
    if (ALLOWED_ACL_SUBCOMMANDS.has(subcommand)) return undefined;
    return 'it would change the users of the local Redis, the ones this gateway and every developer tool log in with; manage ACL users with redis-cli';
  }
  if (name === 'config') {
    if (ALLOWED_CONFIG_SUBCOMMANDS.has(subcommand)) return undefined;
    const parameters = args.filter((_, index) => index % 2 === 0);
    if (
      subcommand === 'set' &&
      parameters.length > 0 &&
      parameters.every((parameter) => parameter.toLowerCase() === CONFIG_SET_PARAMETER)
    ) {
      return undefined;
    }
    return `Upstash lets CONFIG SET change ${CONFIG_SET_PARAMETER} only, and refuses every other CONFIG subcommand but GET; here it would reconfigure the local Redis that every developer tool and test shares`;
  }
  return undefined;
};

const SUBCOMMAND_POLICED = new Set(['client', 'acl', 'config']);

/**
 * Says whether the gateway refuses a command: one that would change the state of the shared
 * connection, one Upstash does not run that would stop, slow or reconfigure the local Redis
 * (DEBUG, SHUTDOWN, CONFIG SET, CLIENT KILL/PAUSE, MODULE, REPLICAOF, SAVE, ...), or FLUSHALL /
 * FLUSHDB (see FLUSH above).
 *
 * Returns the error text to answer with (400, nothing sent to Redis), naming the command and
 * why, or undefined when the command may run. Never throws.
 */
export const refusalOf = (command: RedisCommand): string | undefined => {
  const name = command[0].toLowerCase();
  const subcommand = command[1]?.toLowerCase();
  let reason = REFUSED_COMMANDS.get(name);
  let shown = name;
  if (reason === undefined && SUBCOMMAND_POLICED.has(name) && subcommand !== undefined) {
    reason = refusalOfSubcommand(name, subcommand, command.slice(2));
    shown = `${name} ${subcommand}`;
  }
  if (reason === undefined) return undefined;
  return `ERR command '${shown}' is not supported by the local Upstash gateway: ${reason}`;
};

// These can hold the connection for up to their timeout; on the shared connection every other
// request would wait behind them.
const BLOCKING_COMMANDS = new Set([
  'blmove',
  'blmpop',
  'blpop',
  'brpop',
  'brpoplpush',
  'bzmpop',
  'bzpopmax',
  'bzpopmin',
  'wait',
  'waitaof',
]);
const BLOCK_OPTION_COMMANDS = new Set(['xread', 'xreadgroup']);

/**
 * Says whether a command may block its connection (BLPOP and friends, XREAD ... BLOCK, WAIT).
 *
 * Returns true when it must run on a connection of its own. Never throws.
 */
export const mayBlock = (command: RedisCommand): boolean => {
  const name = command[0].toLowerCase();
  if (BLOCKING_COMMANDS.has(name)) return true;
  return (
    BLOCK_OPTION_COMMANDS.has(name) &&
    command.some((argument) => argument.toLowerCase() === 'block')
  );
};
