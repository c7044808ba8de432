import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  loadMappingsFromServerless,
  offlineInvoker,
  silentLog,
  startMskBridge,
} from '../../local/msk-bridge/index.ts';
import { httpAnswers, startOffline } from '../../local/offline.ts';
import { cacheDir } from '../../local/processes.ts';
import type { StackEndpoints } from '../../local/stack.ts';
import { startUserSource } from '../../local/user-source.ts';
import { startTestStack, type TestStack, testPortBase, testPorts } from './test-stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackEndpoints;
    /** NARAD_TEST_PORT_BASE of this run: test-stack.ts derives every port and folder from it. */
    portBase: number;
    /** serverless offline serving this checkout's functions against the test stack. */
    apiUrl: string;
    /** The stand-in user service behind GET /users/{userId}. */
    userSourceUrl: string;
  }
}

/** The environment of a serverless offline (or any copy of the app) on the test stack. */
export const appEnv = (stack: StackEndpoints, userSourceUrl: string): NodeJS.ProcessEnv => ({
  NODE_ENV: 'development',
  KAFKA_BROKERS: stack.kafkaBrokers,
  UPSTASH_REDIS_REST_URL: stack.upstashUrl,
  UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
  USER_SOURCE_URL: userSourceUrl,
});

/**
 * Brings up the tests' own stack (test-stack.ts) and one `serverless offline` with the MSK
 * bridge for the tests that need real servers; afterwards removes what it started. Both
 * vitest projects that need servers run this setup; the second finds everything running.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const base = testPortBase();
  const stack = await startTestStack(base, { keep: process.env.NARAD_STACK === 'keep' });
  try {
    return await startApp(project, base, stack);
  } catch (error) {
    // A setup that fails half way leaves nothing running behind it.
    await stack.stop();
    throw error;
  }
}

/** serverless offline, the user-service stand-in and the MSK bridge, on the test stack. */
const startApp = async (
  project: TestProject,
  base: number,
  stack: TestStack,
): Promise<() => Promise<void>> => {
  const started = performance.now();
  const ports = testPorts(base);
  const { endpoints } = stack.plan;
  const apiUrl = `http://127.0.0.1:${ports.offline}`;
  // Outside the stack's folder, which is removed afterwards: the last run's log stays readable.
  const offlineLogFile = join(cacheDir(), 'logs', `tests-${base}-serverless-offline.log`);
  await mkdir(dirname(offlineLogFile), { recursive: true });
  const userSourceUrl = `http://127.0.0.1:${ports.userSource}`;
  const userSource = (await httpAnswers(`${userSourceUrl}/__calls/x`))
    ? undefined
    : await startUserSource(ports.userSource);
  const offlineRuns = await httpAnswers(apiUrl);
  const offlineLog = offlineRuns ? undefined : createWriteStream(offlineLogFile, { flags: 'w' });
  const offline = offlineRuns
    ? undefined
    : await startOffline({
        httpPort: ports.offline,
        lambdaPort: ports.offline + 2,
        env: { ...appEnv(endpoints, userSourceUrl), ESBUILD_WORK_FOLDER: `.esbuild-tests-${base}` },
        // The functions' log lines, for when a test fails: read them while the run goes on.
        onOutput: (text) => offlineLog?.write(text),
      });
  // The MSK event-source mappings of serverless.yml, played against the test broker; only
  // beside an offline this setup started (a reused one comes with its own bridge).
  const bridge = offline
    ? await startMskBridge({
        brokers: endpoints.kafkaBrokers,
        // TRIM_HORIZON: a brand-new consumer group (a fresh broker) must not skip what a test
        // produces in the moment between joining and looking up the latest offsets.
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
    `[${project.name}] test stack on NARAD_TEST_PORT_BASE=${base} ready in ${seconds} s (${startedHere.length ? `started ${startedHere.join(', ')}` : 'all reused'}); functions log to ${offlineLogFile}`,
  );
  project.provide('stack', endpoints);
  project.provide('portBase', base);
  project.provide('apiUrl', apiUrl);
  project.provide('userSourceUrl', userSourceUrl);
  return async () => {
    await bridge?.stop();
    await offline?.stop();
    offlineLog?.end();
    await userSource?.close();
    await stack.stop();
  };
};
