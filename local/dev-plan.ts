import { spawnSync } from 'node:child_process';
import { Socket } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';

/**
 * What `npm start` runs for Kafka and for Redis: a server given in the environment, the local
 * one (reused when it answers, started when this machine can), or an embedded stand-in in the
 * functions' own process when neither is possible.
 */
export type PartPlan =
  | { mode: 'external'; address: string }
  | { mode: 'local' }
  | { mode: 'embedded'; reason: string };

export interface Probes {
  /** True when something accepts TCP connections at every `host:port`. */
  tcpAnswers(hostPorts: string[]): Promise<boolean>;
  /**
   * Undefined when the brokers answer a Kafka metadata request within seconds; otherwise why
   * not ("does not answer" when nothing accepts connections, "accepts connections but ..."
   * for a broker that hangs).
   */
  kafkaProblem(hostPorts: string[]): Promise<string | undefined>;
  /** True when something answers HTTP at `url` (any status). */
  httpAnswers(url: string): Promise<boolean>;
  /** True when `command` is on the PATH. */
  hasCommand(command: string): boolean;
}

const tcpAnswer = (hostPort: string, timeoutMs: number): Promise<boolean> =>
  new Promise((resolve) => {
    const [host = '', port = ''] = hostPort.split(':');
    const socket = new Socket();
    const done = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port), host, () => done(true));
  });

const KAFKA_PROBE_MS = 3_000;

/** One metadata request (describeCluster), no retries, given up after KAFKA_PROBE_MS. */
const kafkaDescribes = async (hostPorts: string[]): Promise<boolean> => {
  const admin = new Kafka({
    clientId: 'narad-dev-probe',
    brokers: hostPorts,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: KAFKA_PROBE_MS,
    retry: { retries: 0 },
  }).admin();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), KAFKA_PROBE_MS);
  });
  const asked = (async () => {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length > 0;
  })().catch(() => false);
  try {
    return await Promise.race([asked, timedOut]);
  } finally {
    clearTimeout(timer);
    void admin.disconnect().catch(() => undefined);
  }
};

const tcpAnswersAll = async (hostPorts: string[]) =>
  (await Promise.all(hostPorts.map((one) => tcpAnswer(one, 1_000)))).every(Boolean);

export const realProbes: Probes = {
  tcpAnswers: tcpAnswersAll,
  async kafkaProblem(hostPorts) {
    if (!(await tcpAnswersAll(hostPorts))) return 'does not answer';
    return (await kafkaDescribes(hostPorts))
      ? undefined
      : `accepts connections but does not answer Kafka requests within ${KAFKA_PROBE_MS / 1000} s (a hung broker, or not Kafka)`;
  },
  async httpAnswers(url) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_500) });
      await response.body?.cancel();
      return true;
    } catch {
      return false;
    }
  },
  hasCommand: (command) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0,
};

const wantsEmbedded = (env: NodeJS.ProcessEnv, part: 'kafka' | 'redis') =>
  (env.NARAD_EMBEDDED ?? '')
    .split(',')
    .map((one) => one.trim())
    .includes(part);

/**
 * Kafka: KAFKA_BROKERS when it names other brokers and they answer; the local broker when it
 * answers or Java (and Maven, for the first download) can start it; embedded otherwise.
 */
export const planKafka = async (
  env: NodeJS.ProcessEnv,
  localBrokers: string,
  probes: Probes = realProbes,
): Promise<PartPlan> => {
  if (wantsEmbedded(env, 'kafka'))
    return { mode: 'embedded', reason: 'NARAD_EMBEDDED asks for it' };
  const brokers = env.KAFKA_BROKERS?.trim();
  if (brokers && brokers !== localBrokers) {
    const problem = await probes.kafkaProblem(brokers.split(',').map((one) => one.trim()));
    return problem === undefined
      ? { mode: 'external', address: brokers }
      : { mode: 'embedded', reason: `KAFKA_BROKERS=${brokers} ${problem}` };
  }
  if (await probes.tcpAnswers([localBrokers])) {
    // Something holds the local broker's port: it must be a broker that answers.
    const problem = await probes.kafkaProblem([localBrokers]);
    return problem === undefined
      ? { mode: 'local' }
      : { mode: 'embedded', reason: `the local broker on ${localBrokers} ${problem}` };
  }
  if (probes.hasCommand('java') && probes.hasCommand('mvn')) return { mode: 'local' };
  return {
    mode: 'embedded',
    reason: `no broker on ${localBrokers}, and no Java + Maven to run the local one`,
  };
};

/**
 * Redis: UPSTASH_REDIS_REST_URL when it names another endpoint and it answers; the local gateway
 * when a Redis server answers at REDIS_URL or `redis-server` can start one; embedded otherwise.
 */
export const planRedis = async (
  env: NodeJS.ProcessEnv,
  local: { upstashUrl: string; redisUrl: string },
  probes: Probes = realProbes,
): Promise<PartPlan> => {
  if (wantsEmbedded(env, 'redis'))
    return { mode: 'embedded', reason: 'NARAD_EMBEDDED asks for it' };
  const url = env.UPSTASH_REDIS_REST_URL?.trim().replace(/\/+$/, '');
  if (url && url !== local.upstashUrl) {
    return (await probes.httpAnswers(url))
      ? { mode: 'external', address: url }
      : { mode: 'embedded', reason: `UPSTASH_REDIS_REST_URL=${url} does not answer` };
  }
  const { hostname, port } = new URL(local.redisUrl);
  const host = `${hostname}:${port || 6379}`;
  if ((await probes.tcpAnswers([host])) || probes.hasCommand('redis-server')) {
    return { mode: 'local' };
  }
  return {
    mode: 'embedded',
    reason: `no Redis on ${host}, and no redis-server to start one`,
  };
};

/** The one line `npm start` prints about a part. */
export const describePlan = (part: 'Kafka' | 'Redis', plan: PartPlan): string =>
  plan.mode === 'external'
    ? `${part}: ${plan.address}`
    : plan.mode === 'local'
      ? `${part}: the local ${part === 'Kafka' ? 'broker' : 'Redis + Upstash gateway'}`
      : `${part}: EMBEDDED in memory (${plan.reason}); data is lost when npm start stops`;
