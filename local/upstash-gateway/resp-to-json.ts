/**
 * Redis (RESP2) replies -> the JSON text of Upstash REST responses.
 *
 * Replies arrive from ioredis untouched: bulk and status strings as Buffers (raw bytes), integers
 * as decimal strings (`stringNumbers`, so 64-bit values keep every digit), nil as null, arrays as
 * arrays, and error replies nested in arrays as Error objects.
 */

/** One Redis reply as the gateway receives it from ioredis. */
export type RedisReply = Buffer | string | number | null | Error | RedisReply[];

/** How strings are written: base64 of the raw bytes (`Upstash-Encoding: base64`) or UTF-8 text. */
export type ResponseEncoding = 'base64' | 'utf8';

/** The result of one command inside a pipeline or transaction. */
export type CommandOutcome = { result: RedisReply } | { error: string };

const INTEGER_TEXT = /^-?\d+$/;

// Upstash sends every string base64-encoded except the "OK" reply, and @upstash/redis
// (pkg/http.ts, decode) skips decoding only a top-level "OK". Status and bulk replies both
// reach us as Buffers, so a stored value "OK" is sent as "OK" too; the client reads it the same.
const isOk = (value: Buffer): boolean =>
  value.length === 2 && value[0] === 0x4f && value[1] === 0x4b;

const stringToJson = (bytes: Buffer, encoding: ResponseEncoding): string =>
  encoding === 'base64' ? `"${bytes.toString('base64')}"` : JSON.stringify(bytes.toString('utf8'));

const nestedToJson = (reply: RedisReply, encoding: ResponseEncoding): string => {
  if (reply === null || reply === undefined) return 'null';
  if (Buffer.isBuffer(reply)) return stringToJson(reply, encoding);
  if (typeof reply === 'string') return INTEGER_TEXT.test(reply) ? reply : JSON.stringify(reply);
  if (typeof reply === 'number') return Number.isFinite(reply) ? String(reply) : 'null';
  if (Array.isArray(reply)) {
    let json = '[';
    for (let index = 0; index < reply.length; index += 1) {
      if (index > 0) json += ',';
      json += nestedToJson(reply[index] as RedisReply, encoding);
    }
    return `${json}]`;
  }
  // An error reply inside an array (a Lua table holding redis.error_reply): RESP2 JSON has no
  // error type, so it travels as its message.
  return stringToJson(Buffer.from(reply.message, 'utf8'), encoding);
};

/**
 * Writes one reply as JSON text, strings encoded as `encoding` asks.
 *
 * Returns the JSON text (integers as JSON numbers with all their digits, nil as null, arrays as
 * arrays, never objects). Never throws.
 */
export const replyToJson = (reply: RedisReply, encoding: ResponseEncoding): string =>
  encoding === 'base64' && Buffer.isBuffer(reply) && isOk(reply)
    ? '"OK"'
    : nestedToJson(reply, encoding);

/** Returns the body of a successful `POST /`: `{"result": ...}`. Never throws. */
export const resultBody = (reply: RedisReply, encoding: ResponseEncoding): string =>
  `{"result":${replyToJson(reply, encoding)}}`;

/** Returns a JSON error body `{"error": "..."}`; errors are never base64-encoded. Never throws. */
export const errorBody = (message: string): string => JSON.stringify({ error: message });

/**
 * Returns the body of `/pipeline` and `/multi-exec`: one `{"result"}` or `{"error"}` per command,
 * in order. Never throws.
 */
export const outcomesBody = (
  outcomes: readonly CommandOutcome[],
  encoding: ResponseEncoding,
): string => {
  let json = '[';
  for (let index = 0; index < outcomes.length; index += 1) {
    if (index > 0) json += ',';
    const outcome = outcomes[index] as CommandOutcome;
    json += 'error' in outcome ? errorBody(outcome.error) : resultBody(outcome.result, encoding);
  }
  return `${json}]`;
};
