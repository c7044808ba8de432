import { kafkaServers, loadConfig } from '../lib/config.ts';
import { createKafkaClient } from '../lib/kafka/client.ts';
import { createStateServices } from '../lib/state-services.ts';
import { loadLocalToolEnv } from './dotenv.ts';
import { loadMappingsFromServerless } from './msk-bridge/index.ts';
import { collectStatus } from './status/collect.ts';
import { renderStatus } from './status/render.ts';

/**
 * `npm run status [-- --watch [seconds]]`: one screen of the local stack's numbers (consumer
 * lag per mapping and partition, dead-letter topics, fallback lists, orders by state, today's
 * analytics, the health of each part), with the brokers and Redis of .env. `--watch` redraws it
 * every few seconds (2 by default) until Ctrl-C. With embedded parts (npm start on a bare
 * machine) their data lives inside the npm start process: the screen says what it cannot see.
 */
loadLocalToolEnv();

const args = process.argv.slice(2);
const watchAt = args.indexOf('--watch');
const watchSeconds = watchAt < 0 ? undefined : Number(args[watchAt + 1] ?? 2) || 2;

const EMBEDDED =
  'is embedded in the npm start process (NARAD_EMBEDDED): its data lives in that process, not visible from here';

const main = async () => {
  const config = loadConfig();
  const servers = kafkaServers(config.kafka);
  const kafka = servers ? createKafkaClient(servers) : undefined;
  const { redis } = createStateServices(config);
  // The mappings' consumer groups as serverless.yml names them (the bridge and AWS use them).
  const mappings = kafka ? await loadMappingsFromServerless(process.cwd()) : [];
  const deps = {
    kafka,
    redis,
    mappings,
    ...(config.kafka.kind === 'embedded' ? { kafkaMissing: `Kafka ${EMBEDDED}` } : {}),
    ...(config.redis.kind === 'embedded' ? { redisMissing: `Redis ${EMBEDDED}` } : {}),
  };
  for (;;) {
    const screen = renderStatus(await collectStatus(deps));
    if (watchSeconds === undefined) {
      console.log(screen);
      return;
    }
    process.stdout.write(`\x1b[2J\x1b[H${screen}\n(every ${watchSeconds} s; Ctrl-C to stop)\n`);
    await new Promise((resolve) => setTimeout(resolve, watchSeconds * 1000));
  }
};

main().catch((error: unknown) => {
  console.error(`status: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
