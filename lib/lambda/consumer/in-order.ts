import type { MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';
import { batchItemFailures, type KafkaBatchResponse } from '../batch-response.ts';
import {
  decodeKafkaEventWithSource,
  type KafkaRecord,
  type RecordPosition,
} from '../kafka-event.ts';
import { type LoopOptions, positionOf, type RecordFailure, runOrSettle } from './record-failure.ts';

/**
 * Handles each record of an `aws:kafka` event: partitions concurrently, the records of one
 * partition strictly in offset order (never `Promise.all` over a partition: that would break
 * per-key ordering). A record that cannot be decoded or whose handler throws is settled by
 * `deadLetters`: dead-lettered, the partition goes on; otherwise (or without `deadLetters`) that
 * partition stops there and the failed offset goes into `batchItemFailures`, so Lambda
 * redelivers it and everything after it, and nothing later is handled twice.
 */
export const handleRecordsInOrder = async <T>(
  event: MSKEvent | SelfManagedKafkaEvent,
  handle: (record: KafkaRecord<T>) => Promise<void>,
  onFailure: (failure: RecordFailure) => void = () => undefined,
  { deadLetters, hooks }: LoopOptions = {},
): Promise<KafkaBatchResponse> => {
  const partitions = decodeKafkaEventWithSource<T>(event);
  const failed = await Promise.all(
    [...partitions.values()].map(async (records) => {
      for (const { decoded, source } of records) {
        const position = positionOf(decoded);
        const outcome = await runOrSettle(
          source,
          position,
          decoded.ok ? () => handle(decoded.record) : undefined,
          decoded.ok ? undefined : decoded.error,
          onFailure,
          deadLetters,
        );
        // Outside runOrSettle's try: a throw here is the invocation dying, not a failed record.
        if (outcome === 'handled') await hooks?.afterWrite?.([position]);
        if (outcome === 'stopped') return position;
      }
      return undefined;
    }),
  );
  return batchItemFailures(
    failed.filter((position): position is RecordPosition => position !== undefined),
  );
};
