import { Command, type Pipeline, type Redis, ReplyError } from 'ioredis';
import type { RedisCommand } from './command-parsing.ts';
import { RedisCommandError } from './errors.ts';
import type { CommandOutcome, RedisReply } from './resp-to-json.ts';

// ioredis reshapes some replies after parsing (HGETALL becomes an object); the REST protocol
// wants RESP2 shapes, so this command hands back exactly what the parser produced.
class RawReplyCommand extends Command {
  override transformReply(result: Buffer | Buffer[]): Buffer | Buffer[] {
    return result;
  }
}

// replyEncoding null keeps bulk strings as Buffers, so binary values survive byte for byte.
const rawCommand = ([name, ...args]: RedisCommand): RawReplyCommand =>
  new RawReplyCommand(name, args, { replyEncoding: null });

// ioredis types ReplyError as `any`, so instanceof alone would not narrow.
const isReplyError = (error: unknown): error is Error => error instanceof ReplyError;

const toOutcome = ([error, reply]: [Error | null, unknown]): CommandOutcome => {
  if (error === null) return { result: reply as RedisReply };
  if (isReplyError(error)) return { error: error.message };
  throw error;
};

/**
 * Sends one command.
 *
 * Returns Redis's reply. Throws `RedisCommandError` for an error reply, and the ioredis error
 * unchanged when the connection failed (the caller decides how to report that).
 */
export const sendCommand = async (
  connection: Redis,
  command: RedisCommand,
): Promise<RedisReply> => {
  try {
    return (await connection.sendCommand(rawCommand(command))) as RedisReply;
  } catch (error) {
    if (isReplyError(error)) throw new RedisCommandError(error.message, { cause: error });
    throw error;
  }
};

/**
 * Sends commands as one pipeline (one socket write, replies in order).
 *
 * Returns one outcome per command; error replies become `{error}` outcomes. Throws the ioredis
 * error when the connection failed.
 */
export const sendPipeline = async (
  connection: Redis,
  commands: readonly RedisCommand[],
): Promise<CommandOutcome[]> => {
  // Typed as a chainable commander; at run time it is a Pipeline, which takes Command objects.
  const pipeline = connection.pipeline() as unknown as Pipeline;
  for (const command of commands) pipeline.sendCommand(rawCommand(command));
  const settled = ((await pipeline.exec()) ?? []) as [Error | null, unknown][];
  return settled.map(toOutcome);
};

/**
 * Runs commands as MULTI ... EXEC. ioredis writes the whole block in one socket write, so no
 * other request's command can land inside the transaction even on a shared connection.
 *
 * Returns one outcome per command (runtime errors such as WRONGTYPE are `{error}` outcomes and
 * do not stop the others, as in Redis). Throws `RedisCommandError` when Redis discarded the
 * transaction (EXECABORT, e.g. a wrong-arity command was queued), and the ioredis error when the
 * connection failed.
 */
export const sendTransaction = async (
  connection: Redis,
  commands: readonly RedisCommand[],
): Promise<CommandOutcome[]> => {
  // Same as above: at run time multi() returns a Pipeline in transaction mode.
  const transaction = connection.multi() as unknown as Pipeline;
  for (const command of commands) transaction.sendCommand(rawCommand(command));
  let settled: [Error | null, unknown][] | null;
  try {
    settled = (await transaction.exec()) as [Error | null, unknown][] | null;
  } catch (error) {
    if (!isReplyError(error)) throw error;
    // ioredis attaches the queue-time errors that made Redis discard the transaction.
    const causes = ((error as { previousErrors?: Error[] }).previousErrors ?? []).map(
      (e) => e.message,
    );
    const detail = causes.length > 0 ? ` (${causes.join('; ')})` : '';
    throw new RedisCommandError(`${error.message}${detail}`, { cause: error });
  }
  if (settled === null) {
    throw new RedisCommandError('EXECABORT Transaction discarded: EXEC returned nil');
  }
  return settled.map(toOutcome);
};
