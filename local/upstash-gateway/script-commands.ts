import { createHash } from 'node:crypto';
import type { RedisCommand } from './command-parsing.ts';
import type { RedisReply } from './resp-to-json.ts';
import { translateScript } from './script-shebang.ts';

/** A command as it goes to Redis, and how to turn Redis's reply back into the client's. */
export interface TranslatedCommand {
  command: RedisCommand;
  /** Applied to a successful reply; absent when the reply goes back unchanged. */
  reply?: (reply: RedisReply) => RedisReply;
}

/** Rewrites the scripting commands whose scripts carry Upstash-only flags (script-shebang.ts). */
export interface ScriptCommandTranslator {
  /** Returns the command to send; the same command when nothing needs rewriting. Never throws. */
  translate(command: RedisCommand): TranslatedCommand;
}

/** Rewritten scripts remembered for EVALSHA; a bound so a client looping over new texts cannot grow it forever. */
const DEFAULT_MAX_REMEMBERED = 10_000;

const sha1 = (text: string): string => createHash('sha1').update(text, 'utf8').digest('hex');

const EVAL_COMMANDS = new Set(['eval', 'eval_ro']);
const EVALSHA_COMMANDS = new Set(['evalsha', 'evalsha_ro']);

/**
 * Builds the translator of one gateway.
 *
 * A client hashes the text it sends (@upstash/redis's `Script` and @upstash/ratelimit compute the
 * SHA1 themselves and call EVALSHA first), but Redis caches the rewritten text under another
 * SHA1. So the translator remembers client SHA1 -> Redis SHA1 for every script it rewrote:
 * EVALSHA, EVALSHA_RO and SCRIPT EXISTS travel with Redis's SHA1, SCRIPT LOAD answers with the
 * client's. A SHA1 it never saw (another gateway rewrote it, or this one restarted) goes to Redis
 * unchanged and gets NOSCRIPT, and the client falls back to EVAL, which teaches the translator.
 */
export const createScriptCommandTranslator = (
  maxRemembered = DEFAULT_MAX_REMEMBERED,
): ScriptCommandTranslator => {
  const redisShaOf = new Map<string, string>();

  const rewrite = (script: string): string | undefined => {
    const rewritten = translateScript(script);
    if (rewritten === undefined) return undefined;
    const clientSha = sha1(script);
    if (!redisShaOf.has(clientSha)) {
      if (redisShaOf.size >= maxRemembered) {
        const oldest = redisShaOf.keys().next().value as string;
        redisShaOf.delete(oldest);
      }
      redisShaOf.set(clientSha, sha1(rewritten));
    }
    return rewritten;
  };

  const redisSha = (sha: string): string => redisShaOf.get(sha.toLowerCase()) ?? sha;

  return {
    translate: (command) => {
      const [name, first, ...rest] = command;
      const lower = name.toLowerCase();
      if (first === undefined) return { command };
      if (EVAL_COMMANDS.has(lower)) {
        const rewritten = rewrite(first);
        return rewritten === undefined ? { command } : { command: [name, rewritten, ...rest] };
      }
      if (EVALSHA_COMMANDS.has(lower)) {
        return { command: [name, redisSha(first), ...rest] };
      }
      if (lower !== 'script') return { command };
      const subcommand = first.toLowerCase();
      if (subcommand === 'load' && rest.length === 1) {
        const script = rest[0] as string;
        const rewritten = rewrite(script);
        if (rewritten === undefined) return { command };
        const clientSha = Buffer.from(sha1(script));
        return { command: [name, first, rewritten], reply: () => clientSha };
      }
      if (subcommand === 'exists') {
        return { command: [name, first, ...rest.map(redisSha)] };
      }
      return { command };
    },
  };
};
