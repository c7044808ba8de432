import type { Requester, UpstashRequest, UpstashResponse } from '@upstash/redis';
import { findScript } from '../../lib/redis/scripts.ts';
import { runCommand, type ScriptLookup } from './redis-commands.ts';
import type { Keyspace } from './redis-keyspace.ts';

const answer = (
  keyspace: Keyspace,
  command: unknown,
  scripts: ScriptLookup,
): UpstashResponse<unknown> => {
  try {
    if (!Array.isArray(command) || command.length === 0) {
      return { error: 'ERR a command must be a non-empty array' };
    }
    return { result: runCommand(keyspace, command, scripts) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
};

/**
 * An `@upstash/redis` requester that answers from the embedded keyspace in this process
 * instead of over HTTP: `new Redis(embeddedRequester(keyspace))` is the same client the
 * functions use against Upstash. `scripts` finds the JavaScript mirror EVAL runs (lib/redis/scripts.ts). The REST paths keep their meaning: `/pipeline` answers each
 * command, `/multi-exec` runs them as one step (nothing else runs in between).
 */
export const embeddedRequester = (
  keyspace: Keyspace,
  scripts: ScriptLookup = findScript,
): Requester => ({
  request: async <TResult>({ path = [], body }: UpstashRequest) => {
    if (path[0] === 'pipeline' || path[0] === 'multi-exec') {
      const commands = Array.isArray(body) ? body : [];
      return commands.map((command) =>
        answer(keyspace, command, scripts),
      ) as UpstashResponse<TResult>;
    }
    return answer(keyspace, body, scripts) as UpstashResponse<TResult>;
  },
});
