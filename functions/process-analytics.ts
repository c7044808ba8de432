import { type AnalyticsSlice, applyAnalyticsBatch } from '../lib/analytics/analytics.ts';
import type { AnalyticsEvent } from '../lib/analytics/schema.ts';
import { type ConsumerDeps, kafkaConsumer } from '../lib/lambda/consumer/kafka-consumer.ts';
import type { PartitionSlice } from '../lib/lambda/consumer/whole-batch.ts';
import { getServices } from '../lib/services.ts';

const problemOf = (value: unknown) =>
  typeof value === 'object' && value !== null && typeof (value as AnalyticsEvent).type === 'string'
    ? undefined
    : 'value is not an event (an object with a string "type")';

const toAnalyticsSlice = ({
  records,
  ...range
}: PartitionSlice<AnalyticsEvent>): AnalyticsSlice => ({
  ...range,
  events: records.map((record) => ({
    offset: record.offset,
    event: record.value as AnalyticsEvent,
    recordTimestamp: record.timestamp,
  })),
});

/**
 * user.events + system.events -> daily counters: the whole batch in one atomic Redis script
 * that also records each partition's applied offset, so a redelivery counts nothing twice.
 * Records that are not events go to `<topic>.dlq`.
 */
export const processAnalytics = (deps: ConsumerDeps) =>
  kafkaConsumer<AnalyticsEvent>({
    name: 'processAnalytics',
    mode: 'whole-batch',
    ...deps,
    problemOf,
    handle: async (slices, services) => {
      await applyAnalyticsBatch(services, slices.map(toAnalyticsSlice));
    },
  });

export const handler = processAnalytics({ services: getServices });
