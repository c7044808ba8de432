import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isKafkaBrokerReady, stopKafkaBroker } from '../../local/kafka/broker.ts';
import { isPidAlive } from '../../local/pids.ts';
import { cacheDir } from '../../local/processes.ts';
import { ensureStack, type StackPlan, stopGateway, stopRedis } from '../../local/stack.ts';

/**
 * The tests' own stack: a Kafka broker, a redis-server and an Upstash gateway of their own, on
 * ports derived from NARAD_TEST_PORT_BASE (default 19000), apart from the development stack
 * that `npm start` shows a developer (9092, 6379, 8079). So the tests never write into a
 * developer's data, an outage test stops only the tests' servers, and nothing of another run
 * (a developer's `npm start`, its bridge and its scheduled drain) can touch a test's data.
 *
 * Each run starts it fresh and removes it afterwards (the broker's storage is formatted anew,
 * Redis keeps nothing on disk); NARAD_STACK=keep leaves it running for the next run to reuse.
 * Two runs at once need two bases (NARAD_TEST_PORT_BASE): one base, one owner.
 */

export const DEFAULT_TEST_PORT_BASE = 19_000;

/** The port base of this run's stack, from NARAD_TEST_PORT_BASE. */
export const testPortBase = (env: NodeJS.ProcessEnv = process.env): number => {
  const text = env.NARAD_TEST_PORT_BASE?.trim() || String(DEFAULT_TEST_PORT_BASE);
  const base = Number(text);
  if (!Number.isInteger(base) || base < 1_024 || base > 64_000) {
    throw new Error(
      `NARAD_TEST_PORT_BASE must be a whole number from 1024 to 64000 (the tests use ports base+0 to base+999), got "${text}"`,
    );
  }
  return base;
};

/** Every port the tests open, as offsets from the base, so two bases never collide. */
export const testPorts = (base: number) => ({
  redis: base + 79,
  gateway: base + 80,
  kafka: base + 92,
  kafkaController: base + 93,
  kafkaSasl: base + 94,
  /** The shared serverless offline of the e2e tests (its Lambda endpoint is +2). */
  offline: base + 100,
  userSource: base + 190,
  /** Test files that run an app of their own take ports from here (+10 each). */
  ownApps: base + 600,
});

export const TEST_UPSTASH_TOKEN = 'narad-test-token';

/** The stack plan of a base: addresses, and where its servers keep state (a folder per base). */
export const testStackPlan = (base: number): StackPlan => {
  const ports = testPorts(base);
  const runDir = join(cacheDir(), 'run', `tests-${base}`);
  return {
    endpoints: {
      kafkaBrokers: `127.0.0.1:${ports.kafka}`,
      kafkaSaslBrokers: `127.0.0.1:${ports.kafkaSasl}`,
      redisUrl: `redis://127.0.0.1:${ports.redis}`,
      upstashUrl: `http://127.0.0.1:${ports.gateway}`,
      upstashToken: TEST_UPSTASH_TOKEN,
    },
    broker: {
      port: ports.kafka,
      controllerPort: ports.kafkaController,
      saslPort: ports.kafkaSasl,
      stateDir: join(runDir, 'kafka'),
    },
    runDir,
  };
};

const ownerFile = (plan: StackPlan) => join(plan.runDir, 'owner.pid');

const ownerOf = async (plan: StackPlan): Promise<number | undefined> => {
  const pid = Number((await readFile(ownerFile(plan), 'utf8').catch(() => '')).trim());
  return pid > 0 ? pid : undefined;
};

/** Stops whatever a base's servers are still running (a run that died left them) and forgets them. */
const removeTestStack = async (plan: StackPlan): Promise<void> => {
  await stopGateway(plan);
  await Promise.all([stopKafkaBroker(plan.broker), stopRedis(plan)]);
  await rm(plan.runDir, { recursive: true, force: true });
};

export interface TestStack {
  plan: StackPlan;
  /** What this call started (empty when this process already runs it). */
  started: string[];
  stop: () => Promise<void>;
}

/**
 * Brings up the test stack of `base`. This process's second call (the next vitest project's
 * setup) reuses it. Otherwise every server starts fresh, after whatever a run that died left
 * on the base is removed; with `keep`, a stack an earlier run kept is reused instead, and this
 * one is kept too (but for the gateway, which runs this checkout's code and so starts anew).
 * `stop()` of the call that started it removes it all.
 * @throws when another live test run owns the base (naming it, and the way out).
 */
export const startTestStack = async (base: number, { keep = false } = {}): Promise<TestStack> => {
  const plan = testStackPlan(base);
  const owner = await ownerOf(plan);
  if (owner === process.pid) {
    const stack = await ensureStack(plan);
    return { plan, started: stack.started, stop: stack.stop };
  }
  if (owner !== undefined && isPidAlive(owner)) {
    throw new Error(
      `another test run (pid ${owner}) is using the test stack on NARAD_TEST_PORT_BASE=${base}; wait for it, or give this run a base of its own (for example NARAD_TEST_PORT_BASE=${base + 1_000})`,
    );
  }
  if (!keep || !(await isKafkaBrokerReady(plan.broker))) await removeTestStack(plan);
  // A kept gateway would serve the code it started with: it is this checkout's code, so it
  // starts anew each run (a second; the broker and Redis, which hold data, are what is kept).
  else await stopGateway(plan);
  await mkdir(plan.runDir, { recursive: true });
  await writeFile(ownerFile(plan), `${process.pid}\n`);
  const stack = await ensureStack(plan);
  const stop = async () => {
    if (keep) await rm(ownerFile(plan), { force: true });
    else await removeTestStack(plan);
  };
  return { plan, started: stack.started, stop };
};
