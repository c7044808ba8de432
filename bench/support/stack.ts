import { createServer } from 'node:net';
import { ensureStack, type StackEndpoints } from '../../local/stack.ts';

/**
 * The real local stack for a benchmark: whatever already runs (broker 127.0.0.1:9092, Redis,
 * gateway 127.0.0.1:8079) is used as it is; what is missing is started, and only that is
 * stopped again at the end.
 */
export const withStack = async <T>(run: (stack: StackEndpoints) => Promise<T>): Promise<T> => {
  const stack = await ensureStack();
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

/** Sets the functions' environment in this process (before their modules are imported). */
export const useFunctionEnv = (env: Record<string, string>): void => {
  Object.assign(process.env, env);
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
