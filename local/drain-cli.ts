import { drainFallback, fallbackTopics } from '../lib/fallback/drain.ts';
import { closeServices, getServices } from '../lib/services.ts';
import { loadLocalToolEnv } from './dotenv.ts';

/**
 * `npm run drain [-- <topic>]`: the admin side of the scheduled drainFallback function.
 * Replays kafka_fallback:<topic> lists (all of them without a topic) to Kafka, oldest first,
 * with the environment of .env, and prints one line per topic.
 */
loadLocalToolEnv();

const main = async () => {
  const services = getServices();
  const topic = process.argv[2];
  const topics = topic ?? (services.redis ? await fallbackTopics(services.redis) : []);
  const results = await drainFallback(services, topics);
  if (results.length === 0) console.log('drain: no fallback lists');
  for (const { topic: name, sent, deadLettered, remaining, stoppedBecause } of results) {
    const note = stoppedBecause ? ` (stopped: ${stoppedBecause})` : '';
    console.log(
      `drain: ${name}: sent ${sent}, moved aside ${deadLettered}, remaining ${remaining}${note}`,
    );
  }
  await closeServices();
  process.exitCode = results.some((result) => result.remaining > 0) ? 1 : 0;
};

main().catch(async (error: unknown) => {
  console.error(`drain: failed: ${error instanceof Error ? error.message : String(error)}`);
  await closeServices().catch(() => undefined);
  process.exitCode = 1;
});
