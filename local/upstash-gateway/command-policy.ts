import type { RedisCommand } from './command-parsing.ts';

// These change the state of the connection they run on. Every HTTP request shares one Redis
// connection, so one of them would corrupt the answers of every other request (a SELECT moves
// everyone to another database, a SUBSCRIBE stops all replies, a MULTI swallows them).
const CONNECTION_STATE_COMMANDS = new Set([
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
]);
const CONNECTION_STATE_CLIENT_SUBCOMMANDS = new Set(['reply', 'tracking', 'caching']);

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
 * Says whether the gateway refuses a command.
 *
 * Returns the error text to answer with, or undefined when the command may run. Never throws.
 */
export const refusalOf = (command: RedisCommand): string | undefined => {
  const name = command[0].toLowerCase();
  const subcommand = command[1]?.toLowerCase();
  const refused =
    CONNECTION_STATE_COMMANDS.has(name) ||
    (name === 'client' &&
      subcommand !== undefined &&
      CONNECTION_STATE_CLIENT_SUBCOMMANDS.has(subcommand));
  if (!refused) return undefined;
  const shown = name === 'client' ? `client ${subcommand}` : name;
  return `ERR command '${shown}' is not supported by the Upstash REST gateway: it would change the state of the Redis connection shared by all requests (use /multi-exec for transactions)`;
};

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
