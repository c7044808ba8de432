import { drainFallback } from '../lib/fallback/messages.ts';
import { scheduledHandler } from '../lib/lambda/invocation-log.ts';
import { getServices } from '../lib/services.ts';

/** Every minute: replays the kafka_fallback:<topic> lists to Kafka, oldest first. */
export const handler = scheduledHandler(
  'drainFallback',
  async () => {
    const results = await drainFallback(getServices());
    return { topics: results.length, sent: results.reduce((sum, r) => sum + r.sent, 0), results };
  },
  (summary) => summary,
);
