import { problemOfEvent } from '../lib/analytics/aggregate.ts';
import { type AnalyticsSlice, applyAnalyticsBatch } from '../lib/analytics/analytics.ts';
import type { AnalyticsEvent } from '../lib/analytics/schema.ts';
import { getConsumerServices } from '../lib/consumer-services.ts';
import { POSSIBLE_DUPLICATE_HEADER } from '../lib/kafka/record-headers.ts';
import { type ConsumerDeps, kafkaConsumer } from '../lib/lambda/consumer/kafka-consumer.ts';
import type { PartitionSlice } from '../lib/lambda/consumer/whole-batch.ts';

const toAnalyticsSlice = ({
  cluster,
  topic,
  partition,
  firstOffset,
  lastOffset,
  records,
}: PartitionSlice<AnalyticsEvent>): AnalyticsSlice => ({
  cluster,
  topic,
  partition,
  firstOffset,
  lastOffset,
  events: records.map((record) => ({
    offset: record.offset,
    event: record.value as AnalyticsEvent,
    recordTimestamp: record.timestamp,
    possibleDuplicate: record.headers[POSSIBLE_DUPLICATE_HEADER] === '1',
  })),
});

/**
 * user.events + system.events -> daily counters: the whole batch in one atomic Redis script
 * that also records each partition's applied offset, so a redelivery counts nothing twice, and
 * recognises a second copy of an event by its eventId. Records that are not countable events
 * (not decodable, no type or eventId, no calendar day) go to `<topic>.dlq`, each alone.
 */
export const processAnalytics = ({
  now = Date.now,
  ...deps
}: ConsumerDeps & {
  /** The clock the recent traces go by (tests move it past their window). */
  now?: () => number;
}) =>
  kafkaConsumer<AnalyticsEvent>({
    name: 'processAnalytics',
    mode: 'whole-batch',
    ...deps,
    problemOf: (value, record) => problemOfEvent(value, record.timestamp),
    handle: async (slices, services) => {
      await applyAnalyticsBatch(services, slices.map(toAnalyticsSlice), { now: now() });
    },
  });

export const handler = processAnalytics({ services: getConsumerServices });
