import { join } from 'node:path';
import { Redis as RedisConnection } from 'ioredis';
import {
  ensureKafkaBroker,
  type KafkaBrokerOptions,
  kafkaBrokerOptions,
  stopKafkaBroker,
} from './kafka/broker.ts';
import { cacheDir, spawnDetached, stopByPidFile, waitUntil } from './processes.ts';

/**
 * The local stack: a real Kafka broker, a real redis-server and the Upstash-compatible gateway
 * in front of it. Each part is reused when it already answers, and started otherwise;
 * `stop()` stops only what this call started.
 *
 * A stack is described by a `StackPlan`: its addresses and where its servers keep pid files,
 * logs and data. The development stack (`devStackPlan`) is the one `npm start` shows a
 * developer; the tests run a stack of their own (test/support/test-stack.ts) on other ports,
 * so they never write into the developer's data and their outages stop only their servers.
 */

export interface StackEndpoints {
  kafkaBrokers: string;
  kafkaSaslBrokers: string;
  redisUrl: string;
  upstashUrl: string;
  upstashToken: string;
}

export interface StackPlan {
  endpoints: StackEndpoints;
  /** The broker's ports and stateDir (its defaults are the development broker's). */
  broker: Partial<KafkaBrokerOptions>;
  /** Where the redis-server and the gateway this stack starts keep pid files, logs and data. */
  runDir: string;
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

/** The development stack: the addresses of `stackEndpoints`, state under the cache dir. */
export const devStackPlan = (env: NodeJS.ProcessEnv = process.env): StackPlan => ({
  endpoints: stackEndpoints(env),
  broker: {},
  runDir: join(cacheDir(), 'run'),
});

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

const redisFiles = (plan: StackPlan) => ({
  pidFile: join(plan.runDir, 'redis', 'redis.pid'),
  logFile: join(plan.runDir, 'redis', 'redis.log'),
  dataDir: join(plan.runDir, 'redis'),
});

/** Reuses a Redis that answers at the plan's address, or starts a throwaway redis-server on its port. */
export const ensureRedis = async (plan: StackPlan): Promise<{ startedHere: boolean }> => {
  const { redisUrl } = plan.endpoints;
  if (await redisAnswers(redisUrl)) return { startedHere: false };
  const { hostname, port } = new URL(redisUrl);
  if (hostname !== '127.0.0.1' && hostname !== 'localhost') {
    throw new Error(
      `Redis at ${hostname}:${port} does not answer; start it or point REDIS_URL elsewhere`,
    );
  }
  const files = redisFiles(plan);
  const server = await spawnDetached(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      port || '6379',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      files.dataDir,
    ],
    { pidFile: files.pidFile, logFile: files.logFile },
  );
  await waitUntil(() => redisAnswers(redisUrl), {
    what: 'redis-server (install it with `apt-get install redis-server`)',
    timeoutMs: 10_000,
    abortIf: server.exitReason,
  });
  return { startedHere: true };
};

/** Stops the redis-server this plan started (found by its pid file); false when none runs. */
export const stopRedis = (plan: StackPlan) => stopByPidFile(redisFiles(plan).pidFile);

const gatewayAnswers = async (upstashUrl: string): Promise<boolean> => {
  try {
    const response = await fetch(upstashUrl, { signal: AbortSignal.timeout(500) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
};

const gatewayFiles = (plan: StackPlan) => ({
  pidFile: join(plan.runDir, 'upstash-gateway', 'gateway.pid'),
  logFile: join(plan.runDir, 'upstash-gateway', 'gateway.log'),
});

/** Starts the gateway process (it must be a process of its own so outage tests can stop it). */
export const startGateway = async (plan: StackPlan): Promise<void> => {
  const { endpoints } = plan;
  const server = await spawnDetached(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'local/upstash-gateway/main.ts')],
    {
      ...gatewayFiles(plan),
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

/** Stops the gateway this plan started (found by its pid file); false when none runs. */
export const stopGateway = (plan: StackPlan) => stopByPidFile(gatewayFiles(plan).pidFile, 5_000);

export const ensureGateway = async (plan: StackPlan): Promise<{ startedHere: boolean }> => {
  if (await gatewayAnswers(plan.endpoints.upstashUrl)) return { startedHere: false };
  await startGateway(plan);
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
  plan = devStackPlan(),
  parts: { kafka: boolean; redis: boolean } = { kafka: true, redis: true },
): Promise<RunningStack> => {
  const nothing = { startedHere: false };
  const [redisStart, kafkaStart] = await Promise.allSettled([
    parts.redis ? ensureRedis(plan) : nothing,
    parts.kafka ? ensureKafkaBroker(plan.broker) : nothing,
  ]);
  const redis = redisStart.status === 'fulfilled' ? redisStart.value : nothing;
  const kafka = kafkaStart.status === 'fulfilled' ? kafkaStart.value : nothing;
  let gateway = nothing;
  const stop = async () => {
    if (gateway.startedHere) await stopGateway(plan);
    await Promise.all([
      kafka.startedHere ? stopKafkaBroker(plan.broker) : undefined,
      redis.startedHere ? stopRedis(plan) : undefined,
    ]);
  };
  try {
    if (redisStart.status === 'rejected') throw redisStart.reason;
    if (kafkaStart.status === 'rejected') throw kafkaStart.reason;
    if (parts.redis) gateway = await ensureGateway(plan);
  } catch (error) {
    // A part that failed must not leave the parts that started running behind it.
    await stop().catch(() => undefined);
    throw error;
  }
  const started = [
    ...(kafka.startedHere ? ['kafka'] : []),
    ...(redis.startedHere ? ['redis'] : []),
    ...(gateway.startedHere ? ['upstash-gateway'] : []),
  ];
  return { endpoints: plan.endpoints, started, stop };
};
