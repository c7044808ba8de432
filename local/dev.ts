import { join } from 'node:path';
import { loadDotEnv } from './dotenv.ts';
import {
  consoleLog,
  loadMappingsFromServerless,
  offlineInvoker,
  startMskBridge,
} from './msk-bridge/index.ts';
import { startOffline } from './offline.ts';
import { ensureStack } from './stack.ts';

/**
 * `npm start`: the local stack (reused when running, started otherwise), `serverless offline`
 * in front of it, and the MSK bridge delivering the topics to the consumer functions.
 * Ctrl-C stops what this command started: the bridge leaves its consumer groups first.
 */
loadDotEnv();

const httpPort = Number(process.env.HTTP_PORT || 3000);
const lambdaPort = Number(process.env.LAMBDA_PORT || 3002);

const main = async () => {
  console.log('dev: bringing up the local stack (Kafka broker, Redis, Upstash gateway)...');
  const stack = await ensureStack();
  console.log(
    `dev: stack ready (${stack.started.length ? `started ${stack.started.join(', ')}` : 'all already running'})`,
  );
  const offline = await startOffline({
    httpPort,
    lambdaPort,
    env: {
      KAFKA_BROKERS: process.env.KAFKA_BROKERS || stack.endpoints.kafkaBrokers,
      UPSTASH_REDIS_REST_URL: process.env.UPSTASH_REDIS_REST_URL || stack.endpoints.upstashUrl,
      UPSTASH_REDIS_REST_TOKEN:
        process.env.UPSTASH_REDIS_REST_TOKEN || stack.endpoints.upstashToken,
    },
    onOutput: (text) => process.stdout.write(text.replace(/^(?=.)/gm, '[offline] ')),
  });
  const bridge = await startMskBridge({
    brokers: process.env.KAFKA_BROKERS || stack.endpoints.kafkaBrokers,
    mappings: await loadMappingsFromServerless(join(import.meta.dirname, '..')),
    invoke: offlineInvoker({ lambdaUrl: offline.lambdaUrl }),
    log: consoleLog(process.env.MSK_BRIDGE_DEBUG ? 'debug' : 'info'),
  });
  for (const mapping of bridge.mappings) {
    console.log(
      `dev: msk-bridge ${mapping.functionKey} <- ${mapping.topic} (group ${mapping.consumerGroupId})`,
    );
  }
  console.log(`dev: API on ${offline.url} — try: curl ${offline.url}/health`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`dev: ${signal}, stopping what this command started...`);
    await bridge.stop();
    await offline.stop();
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  offline.process.once('exit', () => void shutdown('serverless offline exited'));
};

main().catch((error: unknown) => {
  console.error(`dev: could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
