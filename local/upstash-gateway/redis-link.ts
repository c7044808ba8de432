import { Redis, type RedisOptions } from 'ioredis';
import { GatewayError, RedisUnreachableError } from './errors.ts';

// Fail fast instead of queueing: a request to a gateway whose Redis is down must get a 503 at
// once, not wait in an offline queue, and a write that was in flight when the connection
// dropped must not be replayed behind the caller's back (it may already have run).
const FAIL_FAST_OPTIONS: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  stringNumbers: true,
  connectTimeout: 2_000,
};

const RECONNECT_DELAY_CAP_MS = 1_000;

/** The gateway's Redis connections: one shared for ordinary requests, dedicated ones on demand. */
export interface RedisLink {
  /** `host:port` of Redis, for messages (never the password). */
  readonly address: string;
  /** True while the shared connection is ready. */
  isReachable(): boolean;
  /**
   * Runs `work` on the shared connection. Returns what `work` returns; rethrows `GatewayError`s
   * unchanged and turns any other failure into `RedisUnreachableError` (503).
   */
  onShared<T>(work: (connection: Redis) => Promise<T>): Promise<T>;
  /**
   * Runs `work` on a fresh connection of its own, closed afterwards or when `signal` aborts
   * (for commands that may block, and subscriptions); `name` shows in CLIENT LIST. Same errors
   * as `onShared`.
   */
  onDedicated<T>(
    work: (connection: Redis) => Promise<T>,
    signal?: AbortSignal,
    name?: string,
  ): Promise<T>;
  /** Closes every connection. Never throws. */
  close(): Promise<void>;
}

/**
 * Returns `host:port` of a redis:// or rediss:// URL.
 *
 * Throws when the URL cannot be parsed or has another scheme; the message does not repeat the
 * URL, which may hold a password.
 */
export const redisAddress = (redisUrl: string): string => {
  let url: URL;
  try {
    url = new URL(redisUrl);
  } catch (error) {
    throw new Error('REDIS_URL is not a valid URL; expected redis://host:port', { cause: error });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new Error(`REDIS_URL must start with redis:// or rediss://, got ${url.protocol}//`);
  }
  return `${url.hostname}:${url.port || '6379'}`;
};

/**
 * Opens the shared connection, waiting for the first attempt only: when Redis is down the link
 * is still returned, answers 503, and keeps reconnecting in the background.
 *
 * Returns the link. Throws only for an invalid `redisUrl`. `log` receives one line when Redis
 * becomes unreachable and one when it is back (never one per request).
 */
export const openRedisLink = async (
  redisUrl: string,
  log: (line: string) => void,
): Promise<RedisLink> => {
  const address = redisAddress(redisUrl);
  const shared = new Redis(redisUrl, {
    ...FAIL_FAST_OPTIONS,
    retryStrategy: (attempt) => Math.min(attempt * 100, RECONNECT_DELAY_CAP_MS),
  });
  const dedicated = new Set<Redis>();
  let reachable = false;
  let reportedDown = false;
  let closing = false;
  let lastConnectionError: string | undefined;

  shared.on('error', (error: Error) => {
    lastConnectionError = error.message;
  });
  shared.on('ready', () => {
    reachable = true;
    lastConnectionError = undefined;
    if (reportedDown) log(`redis at ${address} is reachable again`);
    reportedDown = false;
  });
  shared.on('close', () => {
    reachable = false;
    if (closing || reportedDown) return;
    reportedDown = true;
    log(
      `redis unreachable at ${address}: ${lastConnectionError ?? 'connection closed'}; answering 503 and reconnecting until it is back`,
    );
  });

  const unreachable = (error: unknown): GatewayError => {
    if (error instanceof GatewayError) return error;
    const message = error instanceof Error ? error.message : String(error);
    const reason =
      error instanceof Error && error.name === 'MaxRetriesPerRequestError'
        ? 'the connection dropped while the command was in flight (it may or may not have run)'
        : reachable
          ? message
          : (lastConnectionError ?? 'not connected');
    return new RedisUnreachableError(address, reason, { cause: error });
  };

  await shared.connect().catch(() => {
    // Reported through the 'close' handler; the retry strategy keeps trying.
  });

  return {
    address,
    isReachable: () => reachable,
    onShared: async (work) => {
      try {
        return await work(shared);
      } catch (error) {
        throw unreachable(error);
      }
    },
    onDedicated: async (work, signal, name) => {
      const connection = new Redis(redisUrl, {
        ...FAIL_FAST_OPTIONS,
        retryStrategy: () => null,
        ...(name === undefined ? {} : { connectionName: name }),
      });
      // connect() rejects with a bare "Connection is closed."; the reason comes as an event.
      let connectionError: string | undefined;
      connection.on('error', (error: Error) => {
        connectionError = error.message;
      });
      dedicated.add(connection);
      const abandon = (): void => connection.disconnect();
      signal?.addEventListener('abort', abandon, { once: true });
      try {
        await connection.connect();
        return await work(connection);
      } catch (error) {
        if (error instanceof GatewayError) throw error;
        const reason = connectionError ?? (error instanceof Error ? error.message : String(error));
        throw new RedisUnreachableError(address, reason, { cause: error });
      } finally {
        signal?.removeEventListener('abort', abandon);
        dedicated.delete(connection);
        connection.disconnect();
      }
    },
    close: async () => {
      closing = true;
      for (const connection of dedicated) connection.disconnect();
      if (shared.status === 'ready') {
        await shared.quit().catch(() => shared.disconnect());
      } else {
        shared.disconnect();
      }
    },
  };
};
