import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { BadRequestError } from './errors.ts';
import type { RedisLink } from './redis-link.ts';

/**
 * Upstash's pub/sub over server-sent events (upstash.com/docs/redis/features/restapi, "Subscribe
 * & Publish Commands"): `POST /subscribe/<channel>` and `POST /psubscribe/<pattern>` answer
 * `text/event-stream`, one `data:` line per event:
 *
 *   data: subscribe,<channel>,<count>            data: psubscribe,<pattern>,<count>
 *   data: message,<channel>,<payload>            data: pmessage,<pattern>,<channel>,<payload>
 *
 * PUBLISH goes through the ordinary command endpoint. @upstash/redis (`redis.subscribe()`,
 * `psubscribe()`, pkg/commands/subscribe.ts) opens one such request per channel or pattern, reads
 * the `data: ` lines as they come, splits them at the first commas, and unsubscribes by aborting
 * the request. Payloads travel as UTF-8 text whatever `Upstash-Encoding` says: the client never
 * base64-decodes them (it JSON-parses them when it can).
 */

export type SubscriptionKind = 'subscribe' | 'psubscribe';

export interface SubscriptionRequest {
  kind: SubscriptionKind;
  /** The channel (subscribe) or glob pattern (psubscribe), decoded from the path. */
  target: string;
}

/** A comment line: clients ignore it, and writing it finds a client that vanished silently. */
const KEEPALIVE = ': keepalive\n\n';
const KEEPALIVE_EVERY_MS = 15_000;

/** The name the subscriptions' Redis connections carry in CLIENT LIST. */
export const SUBSCRIBER_CONNECTION_NAME = 'upstash-gateway-subscriber';

const PREFIXES: Array<[string, SubscriptionKind]> = [
  ['/subscribe/', 'subscribe'],
  ['/psubscribe/', 'psubscribe'],
];

/**
 * Reads a subscription path (`/subscribe/<channel>`, `/psubscribe/<pattern>`; everything after
 * the prefix, slashes included, percent-decoded).
 *
 * Returns undefined for any other path. Throws `BadRequestError` for an empty or badly encoded
 * channel or pattern.
 */
export const subscriptionOf = (path: string): SubscriptionRequest | undefined => {
  const match = PREFIXES.find(([prefix]) => path.startsWith(prefix));
  if (match === undefined) return undefined;
  const [prefix, kind] = match;
  let target: string;
  try {
    target = decodeURIComponent(path.slice(prefix.length));
  } catch (error) {
    throw new BadRequestError(
      `${prefix}<${kind === 'subscribe' ? 'channel' : 'pattern'}>: the name is not valid percent-encoding`,
      { cause: error },
    );
  }
  if (target === '') {
    throw new BadRequestError(
      `${prefix}<${kind === 'subscribe' ? 'channel' : 'pattern'}>: the name is empty; for example POST ${prefix}orders`,
    );
  }
  return { kind, target };
};

/**
 * One server-sent event carrying `fields` joined by commas. A line break in a payload starts
 * another `data:` line of the same event, as the SSE format asks (EventSource joins them again;
 * @upstash/redis reads line by line, so it sees such a payload up to its first line break).
 */
export const sseEvent = (fields: ReadonlyArray<string | Buffer>): string =>
  `${fields
    .map((field) => (typeof field === 'string' ? field : field.toString('utf8')))
    .join(',')
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('')}\n`;

/** Resolves when the client goes away or the Redis connection ends, whichever comes first. */
const untilEither = (signal: AbortSignal, connection: Redis): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    signal.addEventListener('abort', () => resolve(), { once: true });
    connection.once('end', () => resolve());
  });

export interface StreamOptions {
  link: RedisLink;
  /** Headers every gateway response carries besides the stream's own (the sync token). */
  headers: () => Record<string, string>;
  /** Aborts when the HTTP client goes away (or the gateway ends the stream). */
  clientGone: AbortSignal;
}

/**
 * Streams one subscription: SUBSCRIBE or PSUBSCRIBE on a Redis connection of its own (a
 * subscribed connection can do nothing else), then every message as an event, until the client
 * aborts the request or Redis goes away; the connection is closed either way, so Redis drops the
 * subscription at once.
 *
 * Resolves once the stream has ended. Throws a `GatewayError` (503) when Redis cannot be reached
 * before the stream starts; after that, a lost Redis ends the stream.
 */
export const streamSubscription = (
  { link, headers, clientGone }: StreamOptions,
  { kind, target }: SubscriptionRequest,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> =>
  link.onDedicated(
    async (connection) => {
      // Events that arrive with the SUBSCRIBE reply wait for the stream's headers; events that
      // arrive once the stream has ended (the client left, the connection is closing) are dropped.
      const early: string[] = [];
      let streaming = false;
      const write = (text: string): void => {
        if (!response.writableEnded && !response.destroyed) response.write(text);
      };
      const send = (event: string): void => {
        if (streaming) write(event);
        else early.push(event);
      };
      connection.on('messageBuffer', (channel: Buffer, message: Buffer) =>
        send(sseEvent(['message', channel, message])),
      );
      connection.on('pmessageBuffer', (pattern: string, channel: Buffer, message: Buffer) =>
        send(sseEvent(['pmessage', pattern, channel, message])),
      );
      const count =
        kind === 'subscribe'
          ? await connection.subscribe(target)
          : await connection.psubscribe(target);
      request.resume();
      response.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        ...headers(),
      });
      write(sseEvent([kind, target, String(count)]));
      streaming = true;
      for (const event of early.splice(0)) write(event);
      const keepalive = setInterval(() => write(KEEPALIVE), KEEPALIVE_EVERY_MS);
      keepalive.unref();
      try {
        await untilEither(clientGone, connection);
      } finally {
        clearInterval(keepalive);
        response.end();
      }
    },
    clientGone,
    SUBSCRIBER_CONNECTION_NAME,
  );
