import { loadDotEnv } from './dotenv.ts';
import { isKafkaBrokerReady, stopKafkaBroker } from './kafka/broker.ts';
import { httpAnswers } from './offline.ts';
import { devStackPlan, ensureStack, stackEndpoints, stopGateway, stopRedis } from './stack.ts';

/**
 * `npm run stack -- start|stop|status`: the local stack for development, left running
 * between commands. `npm test` and `npm start` start it themselves when it is not running.
 */
loadDotEnv();

const commands: Record<string, () => Promise<void>> = {
  async start() {
    const started = performance.now();
    const { endpoints, started: startedNow } = await ensureStack();
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `stack: ready in ${seconds} s (${startedNow.length ? `started ${startedNow.join(', ')}` : 'all already running'})`,
    );
    console.log(
      `  KAFKA_BROKERS=${endpoints.kafkaBrokers}   (SASL listener ${endpoints.kafkaSaslBrokers})`,
    );
    console.log(`  UPSTASH_REDIS_REST_URL=${endpoints.upstashUrl}   -> ${endpoints.redisUrl}`);
  },
  async stop() {
    const plan = devStackPlan();
    const gateway = await stopGateway(plan);
    await stopKafkaBroker(plan.broker);
    const redis = await stopRedis(plan);
    console.log(
      `stack: stopped kafka${gateway ? ', upstash-gateway' : ''}${redis ? ', redis (started by the stack)' : ''}`,
    );
  },
  async status() {
    const endpoints = stackEndpoints();
    const [kafka, gateway] = await Promise.all([
      isKafkaBrokerReady(),
      httpAnswers(endpoints.upstashUrl),
    ]);
    console.log(`kafka            ${kafka ? 'up' : 'down'}  ${endpoints.kafkaBrokers}`);
    console.log(`upstash-gateway  ${gateway ? 'up' : 'down'}  ${endpoints.upstashUrl}`);
  },
};

const name = process.argv[2] ?? 'status';
const command = commands[name];
if (!command) {
  console.error(`usage: npm run stack -- <${Object.keys(commands).join('|')}>`);
  process.exit(2);
}
command().catch((error: unknown) => {
  console.error(`stack ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
