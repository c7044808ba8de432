import type { Redis } from 'ioredis';
import { parseCommandBody, parseCommandListBody, type RedisCommand } from './command-parsing.ts';
import { mayBlock, refusalOf } from './command-policy.ts';
import { BadRequestError } from './errors.ts';
import { sendCommand, sendPipeline, sendTransaction } from './redis-commands.ts';
import type { RedisLink } from './redis-link.ts';
import {
  type CommandOutcome,
  outcomesBody,
  type ResponseEncoding,
  resultBody,
} from './resp-to-json.ts';
import type { ScriptCommandTranslator, TranslatedCommand } from './script-commands.ts';
import type { CountedPath, StatsCounter } from './stats.ts';

/** What an endpoint answers: HTTP status and JSON body text. */
export interface Reply {
  status: number;
  body: string;
}

/** What the command endpoints need from the server. */
export interface CommandContext {
  link: RedisLink;
  stats: StatsCounter;
  scripts: ScriptCommandTranslator;
}

/** Sends `translated` commands with `send`, then gives each successful reply back its client form. */
const runTranslated = async (
  translated: readonly TranslatedCommand[],
  send: (commands: RedisCommand[]) => Promise<CommandOutcome[]>,
): Promise<CommandOutcome[]> => {
  const outcomes = await send(translated.map(({ command }) => command));
  return outcomes.map((outcome, index) => {
    const reply = translated[index]?.reply;
    return reply === undefined || 'error' in outcome ? outcome : { result: reply(outcome.result) };
  });
};

/**
 * One command endpoint. Returns the 200 reply; throws a `GatewayError` for everything else
 * (bad body 400, Redis error reply 400, Redis unreachable 503).
 */
export type CommandRoute = (
  context: CommandContext,
  body: Buffer,
  encoding: ResponseEncoding,
  /** Aborts when the HTTP client goes away; created on demand (only blocking commands need it). */
  clientGone: () => AbortSignal,
) => Promise<Reply>;

const runSingle: CommandRoute = async ({ link, stats, scripts }, body, encoding, clientGone) => {
  const command = parseCommandBody(body);
  const refusal = refusalOf(command);
  if (refusal !== undefined) throw new BadRequestError(refusal);
  stats.countCommands(1);
  const translated = scripts.translate(command);
  const run = (connection: Redis) => sendCommand(connection, translated.command);
  const reply = mayBlock(command)
    ? await link.onDedicated(run, clientGone())
    : await link.onShared(run);
  return {
    status: 200,
    body: resultBody(translated.reply ? translated.reply(reply) : reply, encoding),
  };
};

const runPipeline: CommandRoute = async ({ link, stats, scripts }, body, encoding, clientGone) => {
  const commands = parseCommandListBody(body);
  // A refused command answers its own {error}; the others still run, as in a Redis pipeline.
  const outcomes: CommandOutcome[] = new Array(commands.length);
  const runnable: RedisCommand[] = [];
  const positions: number[] = [];
  commands.forEach((command, index) => {
    const refusal = refusalOf(command);
    if (refusal === undefined) {
      runnable.push(command);
      positions.push(index);
    } else {
      outcomes[index] = { error: refusal };
    }
  });
  if (runnable.length > 0) {
    stats.countCommands(runnable.length);
    const run = (connection: Redis) =>
      runTranslated(runnable.map(scripts.translate), (translated) =>
        sendPipeline(connection, translated),
      );
    const results = runnable.some(mayBlock)
      ? await link.onDedicated(run, clientGone())
      : await link.onShared(run);
    results.forEach((outcome, index) => {
      outcomes[positions[index] as number] = outcome;
    });
  }
  return { status: 200, body: outcomesBody(outcomes, encoding) };
};

const runTransaction: CommandRoute = async ({ link, stats, scripts }, body, encoding) => {
  const commands = parseCommandListBody(body);
  commands.forEach((command, index) => {
    const refusal = refusalOf(command);
    if (refusal !== undefined) {
      throw new BadRequestError(`${refusal}; command ${index + 1}: the transaction was not run`);
    }
  });
  stats.countCommands(commands.length);
  // Blocking commands do not block inside MULTI, so the shared connection is always fine here.
  const outcomes = await link.onShared((connection) =>
    runTranslated(commands.map(scripts.translate), (translated) =>
      sendTransaction(connection, translated),
    ),
  );
  return { status: 200, body: outcomesBody(outcomes, encoding) };
};

/** The three command endpoints of the Upstash REST protocol, by path. */
export const COMMAND_ROUTES: Record<CountedPath, CommandRoute> = {
  '/': runSingle,
  '/pipeline': runPipeline,
  '/multi-exec': runTransaction,
};

/** Returns true when `path` is one of the command endpoints. Never throws. */
export const isCommandPath = (path: string): path is CountedPath =>
  Object.hasOwn(COMMAND_ROUTES, path);
