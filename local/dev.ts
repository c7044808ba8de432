import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describePlan, planKafka, planRedis } from './dev-plan.ts';
import { loadDotEnv } from './dotenv.ts';
import type { EmbeddedMapping } from './embedded/settings.ts';
import {
  consoleLog,
  type KafkaMapping,
  loadMappingsFromServerless,
  offlineInvoker,
  startMskBridge,
} from './msk-bridge/index.ts';
import { httpAnswers, startOffline } from './offline.ts';
import { devStackPlan, ensureStack } from './stack.ts';
import { startUserSource } from './user-source.ts';

/**
 * `npm start`: Kafka and Redis as this machine allows (see dev-plan.ts), `serverless offline`
 * in front of them, and the MSK event-source mappings played against the broker (the MSK
 * bridge) or, with Kafka embedded, inside offline's own process. Whatever is embedded runs
 * with every function in one process (`--useInProcess`), so all functions share it.
 * Ctrl-C stops what this command started: the bridge leaves its consumer groups first.
 */
loadDotEnv();

const ROOT = join(import.meta.dirname, '..');
const EMBEDDED_PARTS = join(import.meta.dirname, 'embedded', 'install.ts');
const httpPort = Number(process.env.HTTP_PORT || 3000);
const lambdaPort = Number(process.env.LAMBDA_PORT || 3002);
// AWS's bound on a Kafka mapping with an on-failure destination but no MaximumRetryAttempts.
const AWS_MAX_RETRIES = 10;

/**
 * The msk events as embedded Kafka plays them. The log starts again at offset 0 on every run,
 * so it gets a cluster of its own per run: consumers that remember offsets per cluster (the
 * analytics' applied offsets, in a Redis that outlives this run) must not mistake the new
 * records for redeliveries of an earlier run's.
 */
const embeddedMappings = (mappings: KafkaMapping[]): EmbeddedMapping[] => {
  const cluster = `arn:aws:kafka:us-east-1:000000000000:cluster/narad-embedded/${randomUUID()}`;
  return mappings
    .filter((mapping) => mapping.enabled)
    .map(({ functionName, topic, batchSize, reportBatchItemFailures, maxRetryAttempts }) => ({
      functionName,
      topic,
      batchSize,
      eventSourceArn: cluster,
      reportBatchItemFailures,
      maxRetries: maxRetryAttempts ?? AWS_MAX_RETRIES,
    }));
};

const DEFAULT_USER_SOURCE_URL = 'http://127.0.0.1:8090';

/**
 * GET /users/{userId} reads profiles from the main application's user service. When nothing
 * answers at USER_SOURCE_URL (default http://127.0.0.1:8090) and it is a local address, a demo
 * stand-in runs there, so the route works on any machine; a service already answering is used
 * as it is. A run that needs its own stand-in (a second npm start, the tests) names a port of
 * its own, and never depends on another run's stand-in, which goes when that run stops.
 */
const ensureUserSource = async (configured: string | undefined) => {
  const url = configured?.trim() || DEFAULT_USER_SOURCE_URL;
  const { hostname, port } = new URL(url);
  const local = hostname === '127.0.0.1' || hostname === 'localhost';
  if (!local || port === '' || (await httpAnswers(`${url}/users/user-0`))) {
    console.log(`dev: user service: ${url}`);
    return undefined;
  }
  const started = await startUserSource(Number(port));
  console.log(`dev: user service: a demo stand-in on ${url} (profiles for ids starting user-)`);
  return started;
};

/**
 * What this command started, newest last: stopped in reverse order on every way out (Ctrl-C,
 * offline exiting, a failure half way through the start), so nothing it started outlives it.
 */
const started: Array<{ name: string; stop: () => Promise<unknown> }> = [];
const stopStarted = async () => {
  for (const { name, stop } of started.reverse()) {
    await stop().catch((error: unknown) =>
      console.error(
        `dev: could not stop ${name}: ${error instanceof Error ? error.message : String(error)}`,
      ),
    );
  }
  started.length = 0;
};

const main = async () => {
  const plan = devStackPlan();
  const local = plan.endpoints;
  const [kafkaPlan, redisPlan] = await Promise.all([
    planKafka(process.env, local.kafkaBrokers),
    planRedis(process.env, local),
  ]);
  const embedded = [
    ...(kafkaPlan.mode === 'embedded' ? ['kafka'] : []),
    ...(redisPlan.mode === 'embedded' ? ['redis'] : []),
  ];
  console.log(`dev: ${describePlan('Kafka', kafkaPlan)}`);
  console.log(`dev: ${describePlan('Redis', redisPlan)}`);
  if (embedded.length === 2) {
    console.log(
      'dev: EMBEDDED MODE: no Kafka and no Redis here, so every function runs in one process with both in memory',
    );
  }

  const userSource = await ensureUserSource(process.env.USER_SOURCE_URL);
  if (userSource) started.push({ name: 'the demo user service', stop: () => userSource.close() });
  const stack = await ensureStack(plan, {
    kafka: kafkaPlan.mode === 'local',
    redis: redisPlan.mode === 'local',
  });
  started.push({ name: 'the local stack', stop: stack.stop });
  if (stack.started.length > 0) console.log(`dev: started ${stack.started.join(', ')}`);
  const brokers = kafkaPlan.mode === 'external' ? kafkaPlan.address : local.kafkaBrokers;
  const mappings = await loadMappingsFromServerless(ROOT);
  const lambdaUrl = `http://127.0.0.1:${lambdaPort}`;

  const offline = await startOffline({
    httpPort,
    lambdaPort,
    // Embedded parts live in offline's own process, installed before the functions load.
    args: embedded.length > 0 ? ['--useInProcess'] : [],
    preload: embedded.length > 0 ? [EMBEDDED_PARTS] : [],
    env: {
      KAFKA_BROKERS: brokers,
      UPSTASH_REDIS_REST_URL: redisPlan.mode === 'external' ? redisPlan.address : local.upstashUrl,
      UPSTASH_REDIS_REST_TOKEN: process.env.UPSTASH_REDIS_REST_TOKEN || local.upstashToken,
      NARAD_EMBEDDED: embedded.join(','),
      ...(kafkaPlan.mode === 'embedded'
        ? {
            NARAD_EMBEDDED_LAMBDA_URL: lambdaUrl,
            NARAD_EMBEDDED_MAPPINGS: JSON.stringify(embeddedMappings(mappings)),
          }
        : {}),
    },
    onOutput: (text) => process.stdout.write(text.replace(/^(?=.)/gm, '[offline] ')),
  });
  started.push({ name: 'serverless offline', stop: offline.stop });
  // Embedded Redis is private to this process: a consumer group shared with another copy of
  // the app (a second npm start, the tests) would hand records to the copy that cannot see
  // their state. A group of its own per run reads only what is produced while it runs.
  const bridgeMappings =
    redisPlan.mode === 'embedded'
      ? mappings.map((mapping) => ({
          ...mapping,
          consumerGroupId: `${mapping.consumerGroupId}-embedded-${process.pid}`,
        }))
      : mappings;
  const bridge =
    kafkaPlan.mode === 'embedded'
      ? undefined
      : await startMskBridge({
          brokers,
          mappings: bridgeMappings,
          invoke: offlineInvoker({ lambdaUrl }),
          log: consoleLog(process.env.MSK_BRIDGE_DEBUG ? 'debug' : 'info'),
        });
  if (bridge) started.push({ name: 'the msk bridge', stop: bridge.stop });
  for (const mapping of bridgeMappings) {
    console.log(
      bridge
        ? `dev: msk-bridge ${mapping.functionKey} <- ${mapping.topic} (group ${mapping.consumerGroupId})`
        : `dev: embedded kafka ${mapping.functionKey} <- ${mapping.topic}`,
    );
  }
  console.log(`dev: API on ${offline.url} — try: curl ${offline.url}/health`);
  offline.process.once('exit', () => void shutdown('serverless offline exited'));
};

let stopping = false;
const shutdown = async (why: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`dev: ${why}, stopping what this command started...`);
  await stopStarted();
  process.exit(0);
};
// From the first moment: a Ctrl-C while the stack is still starting stops what already runs.
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

main().catch(async (error: unknown) => {
  console.error(`dev: could not start: ${error instanceof Error ? error.message : String(error)}`);
  stopping = true;
  await stopStarted();
  process.exit(1);
});
