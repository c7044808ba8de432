import { openSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { logger, logLevelFrom } from '../../lib/log.ts';
import { writeMetricsTo } from '../../lib/metrics.ts';
import { cacheDir } from '../../local/processes.ts';
import {
  devStackPlan,
  ensureStack,
  type StackEndpoints,
  type StackPlan,
} from '../../local/stack.ts';
import { testPortBase, testStackPlan } from '../../test/support/test-stack.ts';

/**
 * The stack a benchmark uses: the development stack's addresses, or with NARAD_BENCH_PORT_BASE
 * a stack of its own on the test stack's ports of that base (so a benchmark on a shared
 * machine writes into no one's data), its state in a folder of its own. Do not run tests on
 * the same base at the same time.
 */
export const benchStackPlan = (env: NodeJS.ProcessEnv = process.env): StackPlan => {
  if (!env.NARAD_BENCH_PORT_BASE?.trim()) return devStackPlan(env);
  const base = testPortBase({ NARAD_TEST_PORT_BASE: env.NARAD_BENCH_PORT_BASE });
  const plan = testStackPlan(base);
  const runDir = join(cacheDir(), 'run', `bench-${base}`);
  return { ...plan, runDir, broker: { ...plan.broker, stateDir: join(runDir, 'kafka') } };
};

/**
 * The real local stack for a benchmark (benchStackPlan): whatever already runs there (broker
 * 127.0.0.1:9092, Redis, gateway 127.0.0.1:8079 by default) is used as it is; what is missing
 * is started, and only that is stopped again at the end.
 */
export const withStack = async <T>(run: (stack: StackEndpoints) => Promise<T>): Promise<T> => {
  const stack = await ensureStack(benchStackPlan());
  if (stack.started.length > 0) {
    console.log(`bench: started ${stack.started.join(', ')}; stopping it again at the end`);
  }
  try {
    return await run(stack.endpoints);
  } finally {
    await stack.stop();
  }
};

/**
 * The environment the functions read (lib/config.ts), pointed at the stack. Logs default to
 * WARN: the per-invocation INFO line would otherwise flood the benchmark's output; set
 * LOG_LEVEL=INFO to include its cost.
 */
export const functionEnv = (
  stack: StackEndpoints,
  overrides: Record<string, string> = {},
): Record<string, string> => ({
  KAFKA_BROKERS: stack.kafkaBrokers,
  UPSTASH_REDIS_REST_URL: stack.upstashUrl,
  UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
  KAFKA_CLIENT_ID: 'narad-bench',
  LOG_LEVEL: process.env.LOG_LEVEL || 'WARN',
  ...overrides,
});

/** /dev/null, opened once, where the functions' EMF lines go during a benchmark. */
let devNull: number | undefined;

/**
 * Sets the functions' environment in this process (before their modules are imported). The
 * logger is the exception: lib/log.ts fixes its level when it is first imported, which the
 * benchmark's own imports (embedded mode, the bridge) do before any environment is set, so its
 * level is set again here; without this the handler cost was measured at INFO whatever
 * LOG_LEVEL said.
 */
export const useFunctionEnv = (env: Record<string, string>): void => {
  Object.assign(process.env, env);
  logger.setLogLevel(logLevelFrom());
  // Every invocation's EMF line is still built and written, as in Lambda, but to /dev/null
  // rather than between the benchmark's tables (thousands of lines per run).
  devNull ??= openSync('/dev/null', 'w');
  const fd = devNull;
  writeMetricsTo((line) => writeSync(fd, `${line}\n`));
};

/** A TCP port nothing listens on right now. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
