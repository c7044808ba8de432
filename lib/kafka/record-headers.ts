// The headers the application's records carry, apart from the producer (producer.ts) so that
// code reading them (consumers, the bridge) does not load kafkajs with it.

export const CORRELATION_ID_HEADER = 'x-correlation-id';

/**
 * Set to `1` on a record that may be a second copy of one already in Kafka at another offset:
 * the producer's re-send after a reset (the first attempt may have reached the broker under
 * the old producer id), every record the fallback drain replays. Consumers that count
 * (processAnalytics) check such records by their eventId (lib/analytics/dedup.ts).
 */
export const POSSIBLE_DUPLICATE_HEADER = 'x-narad-possible-duplicate';
