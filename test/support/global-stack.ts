import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  loadMappingsFromServerless,
  offlineInvoker,
  silentLog,
  startMskBridge,
} from '../../local/msk-bridge/index.ts';
import { httpAnswers, startOffline } from '../../local/offline.ts';
import { ensureStack, type StackEndpoints, stackEndpoints } from '../../local/stack.ts';
import { startUserSource } from '../../local/user-source.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackEndpoints;
    /** serverless offline serving this checkout's functions against the local stack. */
    apiUrl: string;
    /** The stand-in user service behind GET /users/{userId}. */
    userSourceUrl: string;
  }
}

const E2E_HTTP_PORT = Number(process.env.E2E_HTTP_PORT ?? 3100);
const USER_SOURCE_PORT = E2E_HTTP_PORT + 90;

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
  const userSourceUrl = `http://127.0.0.1:${USER_SOURCE_PORT}`;
  const userSource = (await httpAnswers(`${userSourceUrl}/__calls/x`))
    ? undefined
    : await startUserSource(USER_SOURCE_PORT);
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
          USER_SOURCE_URL: userSourceUrl,
        },
      });
  // The MSK event-source mappings of serverless.yml, played against the local broker; only
  // beside an offline this setup started (a reused one comes with its own bridge).
  const bridge = offline
    ? await startMskBridge({
        brokers: stack.endpoints.kafkaBrokers,
        // TRIM_HORIZON: a brand-new consumer group (a fresh broker in CI) must not skip what a
        // test produces in the moment between joining and looking up the latest offsets.
        mappings: await loadMappingsFromServerless(join(import.meta.dirname, '..', '..'), {
          env: { ...process.env, KAFKA_STARTING_POSITION: 'TRIM_HORIZON' },
        }),
        invoke: offlineInvoker({ lambdaUrl: offline.lambdaUrl }),
        log: silentLog,
      })
    : undefined;
  const startedHere = [...stack.started, ...(offline ? ['serverless-offline', 'msk-bridge'] : [])];
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `[${project.name}] local stack ready in ${seconds} s (${startedHere.length ? `started ${startedHere.join(', ')}` : 'all reused'})`,
  );
  project.provide('stack', stack.endpoints);
  project.provide('apiUrl', apiUrl);
  project.provide('userSourceUrl', userSourceUrl);
  return async () => {
    await bridge?.stop();
    await offline?.stop();
    await userSource?.close();
    await stack.stop();
  };
}
