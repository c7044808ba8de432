import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBearerCheck } from './auth.ts';
import { assertSafeBind } from './bind-policy.ts';
import {
  COMMAND_ROUTES,
  type CommandContext,
  isCommandPath,
  type Reply,
} from './command-routes.ts';
import { GatewayError, MethodNotAllowedError, NotFoundError, UnauthorizedError } from './errors.ts';
import { openRedisLink } from './redis-link.ts';
import { DEFAULT_MAX_BODY_BYTES, readBody } from './request-body.ts';
import { errorBody, type ResponseEncoding } from './resp-to-json.ts';
import { createScriptCommandTranslator } from './script-commands.ts';
import { createStatsCounter } from './stats.ts';
import { streamSubscription, subscriptionOf } from './subscriptions.ts';

export interface UpstashGatewayOptions {
  /** redis:// or rediss:// URL of the Redis behind the gateway. */
  redisUrl: string;
  /** The bearer token clients must send (`UPSTASH_REDIS_REST_TOKEN`). */
  token: string;
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /**
   * Interface to listen on; default 127.0.0.1. Any other than loopback needs a token that is not
   * the development token and has at least 16 characters (bind-policy.ts).
   */
  host?: string;
  /** Receives rare operational lines (Redis lost / back, internal errors); default: silent. */
  log?: (line: string) => void;
  /** Largest accepted request body; default 10 MiB. */
  maxBodyBytes?: number;
}

export interface UpstashGateway {
  /** Base URL to give `new Redis({ url })`, e.g. http://127.0.0.1:8079. */
  url: string;
  port: number;
  /** Stops accepting requests, ends open ones, then closes the Redis connections. */
  close(): Promise<void>;
}

interface GatewayContext extends CommandContext {
  isAuthorized: (authorization: string | undefined) => boolean;
  maxBodyBytes: number;
  log: (line: string) => void;
  /** The open subscription streams: how to stop each, and when it has ended. */
  streams: Set<{ stop: AbortController; ended: Promise<void> }>;
}

let syncTokenCounter = 0;
// One Redis behind us means every read already sees every write; the token only has to change
// so the client's read-your-writes bookkeeping behaves as against Upstash.
const nextSyncToken = (): string => {
  syncTokenCounter += 1;
  return String(syncTokenCounter);
};

const send = (response: ServerResponse, { status, body }: Reply, closeConnection = false): void => {
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'upstash-sync-token': nextSyncToken(),
    ...(closeConnection ? { connection: 'close' } : {}),
  });
  response.end(body);
};

const syncTokenHeader = () => ({ 'upstash-sync-token': nextSyncToken() });

const noop = (): void => {};

const encodingOf = (request: IncomingMessage): ResponseEncoding => {
  const header = request.headers['upstash-encoding'];
  return typeof header === 'string' && header.toLowerCase() === 'base64' ? 'base64' : 'utf8';
};

const requireAuthorization = (context: GatewayContext, request: IncomingMessage): void => {
  if (!context.isAuthorized(request.headers.authorization)) throw new UnauthorizedError();
};

const handleStats = (context: GatewayContext, request: IncomingMessage, path: string): Reply => {
  requireAuthorization(context, request);
  const method = request.method ?? 'GET';
  if (path === '/__narad/stats') {
    if (method !== 'GET') throw new MethodNotAllowedError(method, path, 'GET');
    return { status: 200, body: JSON.stringify(context.stats.snapshot()) };
  }
  if (method !== 'POST') throw new MethodNotAllowedError(method, path, 'POST');
  context.stats.reset();
  return { status: 200, body: JSON.stringify({ result: 'OK' }) };
};

const abortOnClose = (response: ServerResponse) => (): AbortSignal => {
  const controller = new AbortController();
  response.once('close', () => controller.abort());
  return controller.signal;
};

/** Streams a subscription until the client or Redis goes away; the stream is its own answer. */
const handleSubscription = async (
  context: GatewayContext,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
): Promise<undefined> => {
  const method = request.method ?? 'GET';
  if (method !== 'POST' && method !== 'GET') {
    throw new MethodNotAllowedError(method, path, 'POST (or GET)');
  }
  requireAuthorization(context, request);
  const subscription = subscriptionOf(path);
  if (subscription === undefined) throw new NotFoundError(path);
  const stop = new AbortController();
  const streaming = streamSubscription(
    {
      link: context.link,
      headers: syncTokenHeader,
      clientGone: AbortSignal.any([abortOnClose(response)(), stop.signal]),
    },
    subscription,
    request,
    response,
  );
  const stream = { stop, ended: streaming.then(noop, noop) };
  context.streams.add(stream);
  try {
    await streaming;
  } finally {
    context.streams.delete(stream);
  }
  return undefined;
};

/** Answers one request: a reply to send, or undefined when the handler answered itself (streams). */
const route = async (
  context: GatewayContext,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<Reply | undefined> => {
  const url = request.url ?? '/';
  const queryStart = url.indexOf('?');
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  const method = request.method ?? 'GET';

  if (path === '/' && (method === 'GET' || method === 'HEAD')) {
    const redis = context.link.isReachable() ? 'reachable' : 'unreachable';
    return {
      status: 200,
      body: JSON.stringify({ status: 'ok', service: 'upstash-gateway', redis }),
    };
  }
  if (path === '/__narad/stats' || path === '/__narad/stats/reset') {
    return handleStats(context, request, path);
  }
  if (path.startsWith('/subscribe/') || path.startsWith('/psubscribe/')) {
    return handleSubscription(context, request, response, path);
  }
  if (!isCommandPath(path)) throw new NotFoundError(path);
  context.stats.countRequest(path);
  if (method !== 'POST') throw new MethodNotAllowedError(method, path, 'POST');
  requireAuthorization(context, request);
  const body = await readBody(request, context.maxBodyBytes);
  return COMMAND_ROUTES[path](context, body, encodingOf(request), abortOnClose(response));
};

const handleRequest = async (
  context: GatewayContext,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> => {
  try {
    const reply = await route(context, request, response);
    if (reply !== undefined) send(response, reply);
  } catch (error) {
    if (response.headersSent) return;
    if (error instanceof GatewayError) {
      // After a 413 the rest of the body is still on the wire; closing beats reading it all.
      send(
        response,
        { status: error.status, body: errorBody(error.message) },
        error.status === 413,
      );
      return;
    }
    context.log(
      `internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    send(response, { status: 500, body: errorBody('internal gateway error; see the gateway log') });
  }
};

const listen = (server: Server, port: number, host: string): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });

const FORCE_CLOSE_AFTER_MS = 1_000;

/**
 * Starts an HTTP server speaking the Upstash Redis REST protocol (POST /, /pipeline,
 * /multi-exec, bearer auth, `Upstash-Encoding: base64`, `upstash-sync-token`, pub/sub as
 * server-sent events on /subscribe/<channel> and /psubscribe/<pattern>, Upstash's script flags)
 * in front of the Redis at `redisUrl`, plus GET / (readiness, no auth), GET /__narad/stats and
 * POST /__narad/stats/reset (bearer auth).
 *
 * Returns once the server listens, even when Redis is unreachable (commands then answer 503
 * until it is back). Throws when the token is empty, when `host` is not loopback and the token
 * is the development token or shorter than 16 characters, when the Redis URL is invalid, or when
 * the port cannot be bound (e.g. EADDRINUSE).
 */
export const startUpstashGateway = async (
  options: UpstashGatewayOptions,
): Promise<UpstashGateway> => {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => {});
  const isAuthorized = createBearerCheck(options.token);
  assertSafeBind(host, options.token);
  const link = await openRedisLink(options.redisUrl, log);
  const context: GatewayContext = {
    link,
    stats: createStatsCounter(),
    scripts: createScriptCommandTranslator(),
    isAuthorized,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    log,
    streams: new Set(),
  };
  const server = createServer((request, response) => {
    void handleRequest(context, request, response);
  });
  let port: number;
  try {
    port = await listen(server, options.port, host);
  } catch (error) {
    await link.close();
    throw error;
  }
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A subscription stream never ends on its own; stopping it closes its Redis connection, and
      // once it has ended its HTTP connection is idle and closes with the others.
      const streams = [...context.streams];
      for (const { stop } of streams) stop.abort();
      await Promise.all(streams.map(({ ended }) => ended));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), FORCE_CLOSE_AFTER_MS);
      await closed;
      clearTimeout(force);
      await link.close();
    },
  };
};
