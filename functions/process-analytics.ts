import { aggregateDaily } from '../lib/analytics/aggregate.ts';
import { applyDailyIncrements } from '../lib/analytics/analytics.ts';
import type { AnalyticsEvent } from '../lib/analytics/schema.ts';
import { decodedPrefixes, kafkaHandler } from '../lib/lambda/consumer.ts';
import { batchItemFailures } from '../lib/lambda/kafka-event.ts';
import { getServices } from '../lib/services.ts';

const problemOf = (value: unknown) =>
  typeof value === 'object' && value !== null && typeof (value as AnalyticsEvent).type === 'string'
    ? undefined
    : 'value is not an event (an object with a string "type")';

/** user.events + system.events -> daily counters, the whole batch in one Redis pipeline. */
export const handler = kafkaHandler('processAnalytics', async (event, { recordFailed }) => {
  const { records, failures } = decodedPrefixes<AnalyticsEvent>(event, problemOf);
  await applyDailyIncrements(
    getServices(),
    aggregateDaily(
      records.map((record) => ({
        event: record.value as AnalyticsEvent,
        recordTimestamp: record.timestamp,
      })),
    ),
  );
  for (const failure of failures) recordFailed(failure);
  return batchItemFailures(failures.map((failure) => failure.position));
});
