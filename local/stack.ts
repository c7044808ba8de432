import { join } from 'node:path';
import { Redis as RedisConnection } from 'ioredis';
import { ensureKafkaBroker, kafkaBrokerOptions, stopKafkaBroker } from './kafka/broker.ts';
import { runDir, spawnDetached, stopByPidFile, waitUntil } from './processes.ts';

/**
 * The local stack: a real Kafka broker, a real redis-server and the Upstash-compatible gateway
 * in front of it. Each part is reused when it already answers, and started otherwise;
 * `stop()` stops only what this call started.
 */

export interface StackEndpoints {
  kafkaBrokers: string;
  kafkaSaslBrokers: string;
  redisUrl: string;
  upstashUrl: string;
  upstashToken: string;
}

export const DEV_UPSTASH_TOKEN = 'narad-local-token';

/** The endpoints the stack serves, from the environment or the development defaults. */
export const stackEndpoints = (env: NodeJS.ProcessEnv = process.env): StackEndpoints => {
  const broker = kafkaBrokerOptions();
  const gatewayPort = env.UPSTASH_GATEWAY_PORT ?? '8079';
  return {
    kafkaBrokers: `${broker.host}:${broker.port}`,
    kafkaSaslBrokers: `${broker.host}:${broker.saslPort}`,
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    upstashUrl: `http://127.0.0.1:${gatewayPort}`,
    upstashToken: env.UPSTASH_REDIS_REST_TOKEN ?? DEV_UPSTASH_TOKEN,
  };
};

const REPO_ROOT = join(import.meta.dirname, '..');

const redisAnswers = async (redisUrl: string): Promise<boolean> => {
  const connection = new RedisConnection(redisUrl, {
    lazyConnect: true,
    connectTimeout: 500,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  connection.on('error', () => undefined);
  try {
    await connection.connect();
    return (await connection.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    connection.disconnect();
  }
};

const redisPidFile = () => join(runDir('redis'), 'redis.pid');

/** Reuses a Redis that answers at `redisUrl`, or starts a throwaway redis-server on its port. */
export const ensureRedis = async (redisUrl: string): Promise<{ startedHere: boolean }> => {
  if (await redisAnswers(redisUrl)) return { startedHere: false };
  const { hostname, port } = new URL(redisUrl);
  if (hostname !== '127.0.0.1' && hostname !== 'localhost') {
    throw new Error(
      `Redis at ${hostname}:${port} does not answer; start it or point REDIS_URL elsewhere`,
    );
  }
  const server = await spawnDetached(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', port || '6379', '--save', '', '--appendonly', 'no'],
    { pidFile: redisPidFile(), logFile: join(runDir('redis'), 'redis.log') },
  );
  await waitUntil(() => redisAnswers(redisUrl), {
    what: 'redis-server (install it with `apt-get install redis-server`)',
    timeoutMs: 10_000,
    abortIf: server.exitReason,
  });
  return { startedHere: true };
};

export const stopRedis = () => stopByPidFile(redisPidFile());

const gatewayAnswers = async (upstashUrl: string): Promise<boolean> => {
  try {
    const response = await fetch(upstashUrl, { signal: AbortSignal.timeout(500) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
};

const gatewayPidFile = () => join(runDir('upstash-gateway'), 'gateway.pid');

/** Starts the gateway process (it must be a process of its own so outage tests can stop it). */
export const startGateway = async (endpoints: StackEndpoints): Promise<void> => {
  const server = await spawnDetached(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'local/upstash-gateway/main.ts')],
    {
      pidFile: gatewayPidFile(),
      logFile: join(runDir('upstash-gateway'), 'gateway.log'),
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        REDIS_URL: endpoints.redisUrl,
        UPSTASH_GATEWAY_PORT: new URL(endpoints.upstashUrl).port,
        UPSTASH_REDIS_REST_TOKEN: endpoints.upstashToken,
      },
    },
  );
  await waitUntil(() => gatewayAnswers(endpoints.upstashUrl), {
    what: `upstash-gateway on ${endpoints.upstashUrl}`,
    timeoutMs: 15_000,
    abortIf: server.exitReason,
  });
};

export const stopGateway = () => stopByPidFile(gatewayPidFile(), 5_000);

export const ensureGateway = async (
  endpoints: StackEndpoints,
): Promise<{ startedHere: boolean }> => {
  if (await gatewayAnswers(endpoints.upstashUrl)) return { startedHere: false };
  await startGateway(endpoints);
  return { startedHere: true };
};

export interface RunningStack {
  endpoints: StackEndpoints;
  started: string[];
  stop: () => Promise<void>;
}

/**
 * Brings the stack up (Redis and the broker concurrently, then the gateway), or only the
 * `parts` asked for, and returns what it started, so the caller can put the machine back as
 * it found it.
 */
export const ensureStack = async (
  endpoints = stackEndpoints(),
  parts: { kafka: boolean; redis: boolean } = { kafka: true, redis: true },
): Promise<RunningStack> => {
  const nothing = { startedHere: false };
  const [redis, kafka] = await Promise.all([
    parts.redis ? ensureRedis(endpoints.redisUrl) : nothing,
    parts.kafka ? ensureKafkaBroker() : nothing,
  ]);
  const gateway = parts.redis ? await ensureGateway(endpoints) : nothing;
  const started = [
    ...(kafka.startedHere ? ['kafka'] : []),
    ...(redis.startedHere ? ['redis'] : []),
    ...(gateway.startedHere ? ['upstash-gateway'] : []),
  ];
  const stop = async () => {
    if (gateway.startedHere) await stopGateway();
    await Promise.all([
      kafka.startedHere ? stopKafkaBroker() : undefined,
      redis.startedHere ? stopRedis() : undefined,
    ]);
  };
  return { endpoints, started, stop };
};
