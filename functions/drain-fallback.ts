import { drainFallback } from '../lib/fallback/messages.ts';
import { getServices } from '../lib/services.ts';

/** Every minute: replays the kafka_fallback:<topic> lists to Kafka, oldest first. */
export const handler = async () => {
  const results = await drainFallback(getServices());
  for (const result of results)
    console.log(JSON.stringify({ level: 'INFO', function: 'drainFallback', ...result }));
  return { topics: results.length, sent: results.reduce((sum, r) => sum + r.sent, 0) };
};
