import type { MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';
import { ValidationError } from '../errors.ts';
import {
  batchItemFailures,
  type DecodedRecord,
  decodeKafkaEvent,
  type KafkaRecord,
  type RecordPosition,
} from './kafka-event.ts';

export type KafkaBatchResponse = ReturnType<typeof batchItemFailures>;

export interface RecordFailure {
  position: RecordPosition;
  error: unknown;
}

/**
 * Handles each record of an `aws:kafka` event: partitions concurrently, the records of one
 * partition strictly in offset order (never `Promise.all` over a partition: that would break
 * per-key ordering). At a partition's first failure (undecodable record or a throwing handler)
 * that partition stops; the failed offset goes into `batchItemFailures`, so Lambda redelivers
 * it and everything after it, and nothing later is handled twice.
 */
export const handleRecordsInOrder = async <T>(
  event: MSKEvent | SelfManagedKafkaEvent,
  handle: (record: KafkaRecord<T>) => Promise<void>,
  onFailure: (failure: RecordFailure) => void = () => undefined,
): Promise<KafkaBatchResponse> => {
  const partitions = decodeKafkaEvent<T>(event);
  const failed = await Promise.all(
    [...partitions.values()].map(async (records) => {
      for (const decoded of records) {
        if (!decoded.ok) {
          onFailure({ position: decoded.position, error: decoded.error });
          return decoded.position;
        }
        try {
          await handle(decoded.record);
        } catch (error) {
          onFailure({ position: decoded.record, error });
          return positionOf(decoded);
        }
      }
      return undefined;
    }),
  );
  return batchItemFailures(
    failed.filter((position): position is RecordPosition => position !== undefined),
  );
};

const positionOf = (decoded: DecodedRecord): RecordPosition =>
  decoded.ok
    ? {
        topic: decoded.record.topic,
        partition: decoded.record.partition,
        offset: decoded.record.offset,
      }
    : decoded.position;

/**
 * For handlers that apply a whole batch at once: each partition's records up to (not including)
 * its first undecodable record, and those first undecodable positions. Applying the prefixes
 * and reporting the positions keeps every record applied exactly once per delivery.
 */
export const decodedPrefixes = <T>(
  event: MSKEvent | SelfManagedKafkaEvent,
  /** Why a decoded value is unusable, or undefined when it is fine. */
  problemOf: (value: unknown) => string | undefined = () => undefined,
): { records: KafkaRecord<T>[]; failures: RecordFailure[] } => {
  const records: KafkaRecord<T>[] = [];
  const failures: RecordFailure[] = [];
  for (const partition of decodeKafkaEvent<T>(event).values()) {
    for (const decoded of partition) {
      const problem = decoded.ok ? problemOf(decoded.record.value) : undefined;
      if (!decoded.ok || problem !== undefined) {
        failures.push({
          position: positionOf(decoded),
          error: decoded.ok ? new ValidationError(problem ?? 'unusable value') : decoded.error,
        });
        break;
      }
      records.push(decoded.record);
    }
  }
  return { records, failures };
};
