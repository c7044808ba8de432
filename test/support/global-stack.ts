import type { TestProject } from 'vitest/node';
import { httpAnswers, startOffline } from '../../local/offline.ts';
import { ensureStack, type StackEndpoints, stackEndpoints } from '../../local/stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackEndpoints;
    /** serverless offline serving this checkout's functions against the local stack. */
    apiUrl: string;
  }
}

const E2E_HTTP_PORT = Number(process.env.E2E_HTTP_PORT ?? 3100);

/**
 * Brings up the local stack and one `serverless offline` for the tests that need real
 * servers and, afterwards, stops what it started (nothing it found running).
 * NARAD_STACK=external trusts that the servers are already there.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = performance.now();
  const stack =
    process.env.NARAD_STACK === 'external'
      ? { endpoints: stackEndpoints(), started: [], stop: async () => undefined }
      : await ensureStack();
  const apiUrl = `http://127.0.0.1:${E2E_HTTP_PORT}`;
  const offline = (await httpAnswers(apiUrl))
    ? undefined
    : await startOffline({
        httpPort: E2E_HTTP_PORT,
        lambdaPort: E2E_HTTP_PORT + 2,
        env: {
          NODE_ENV: 'development',
          KAFKA_BROKERS: stack.endpoints.kafkaBrokers,
          UPSTASH_REDIS_REST_URL: stack.endpoints.upstashUrl,
          UPSTASH_REDIS_REST_TOKEN: stack.endpoints.upstashToken,
        },
      });
  const startedHere = [...stack.started, ...(offline ? ['serverless-offline'] : [])];
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `[${project.name}] local stack ready in ${seconds} s (${startedHere.length ? `started ${startedHere.join(', ')}` : 'all reused'})`,
  );
  project.provide('stack', stack.endpoints);
  project.provide('apiUrl', apiUrl);
  return async () => {
    await offline?.stop();
    await stack.stop();
  };
}
