import { drainFallback } from '../lib/fallback/drain.ts';
import { scheduledHandler } from '../lib/lambda/invocation-log.ts';
import { getServices } from '../lib/services.ts';
import { PARKED_TOPICS } from '../lib/topics.ts';

/** Every minute: replays the application's kafka_fallback:<topic> lists to Kafka, oldest first. */
export const handler = scheduledHandler(
  'drainFallback',
  async () => {
    const results = await drainFallback(getServices(), PARKED_TOPICS);
    return { topics: results.length, sent: results.reduce((sum, r) => sum + r.sent, 0), results };
  },
  (summary) => summary,
);
