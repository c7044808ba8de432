import { loadDotEnv } from './dotenv.ts';
import { startOffline } from './offline.ts';
import { ensureStack } from './stack.ts';

/**
 * `npm start`: the local stack (reused when running, started otherwise), then
 * `serverless offline` in front of it. Ctrl-C stops what this command started.
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
  console.log(`dev: API on ${offline.url} — try: curl ${offline.url}/health`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`dev: ${signal}, stopping what this command started...`);
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
