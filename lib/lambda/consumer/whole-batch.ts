import type { MSKEvent, MSKRecord, SelfManagedKafkaEvent } from 'aws-lambda';
import { ValidationError } from '../../errors.ts';
import { batchItemFailures, type KafkaBatchResponse } from '../batch-response.ts';
import {
  decodeKafkaEventWithSource,
  type KafkaRecord,
  type RecordPosition,
} from '../kafka-event.ts';
import { type LoopOptions, positionOf, type RecordFailure, settle } from './record-failure.ts';

/** One partition's share of a batch, for consumers that apply a whole batch at once. */
export interface PartitionSlice<T> {
  /**
   * The Kafka log the offsets count in: the event's cluster ARN (an MSK ARN ends with the
   * cluster's UUID, so a recreated cluster is another log), else its bootstrap servers.
   */
  cluster: string;
  topic: string;
  partition: number;
  /** The offsets the slice covers, from its first record to its last, unusable ones included. */
  firstOffset: number;
  lastOffset: number;
  /** The usable records, in offset order. */
  records: KafkaRecord<T>[];
}

const clusterOf = (event: MSKEvent | SelfManagedKafkaEvent): string =>
  ('eventSourceArn' in event && event.eventSourceArn) || event.bootstrapServers || '';

export interface AtOnceOptions<T = unknown> extends LoopOptions {
  /** Why a decoded value is unusable (it is dead-lettered), or undefined when it is fine. */
  problemOf?: (value: unknown, record: KafkaRecord<T>) => string | undefined;
}

/**
 * For consumers that apply a whole batch in one step (`apply`, which must itself be idempotent
 * per partition offset range): the usable records of every partition go to `apply` at once;
 * then the unusable ones (undecodable, or refused by `problemOf`) are dead-lettered in offset
 * order. When one cannot be dead-lettered its offset is reported failed: Lambda redelivers from
 * it, `apply` recognises the records after it as applied, and it is dead-lettered next time.
 * A throw from `apply` fails the invocation (the whole batch is retried, nothing dead-lettered).
 */
export const handleBatchAtOnce = async <T>(
  event: MSKEvent | SelfManagedKafkaEvent,
  apply: (slices: PartitionSlice<T>[]) => Promise<void>,
  onFailure: (failure: RecordFailure) => void = () => undefined,
  { deadLetters, hooks, problemOf = () => undefined }: AtOnceOptions<T> = {},
): Promise<KafkaBatchResponse> => {
  const cluster = clusterOf(event);
  const slices: PartitionSlice<T>[] = [];
  const unusable: Array<Array<{ source: MSKRecord; position: RecordPosition; error: unknown }>> =
    [];
  for (const entries of decodeKafkaEventWithSource<T>(event).values()) {
    const records: KafkaRecord<T>[] = [];
    const poison: (typeof unusable)[number] = [];
    let firstOffset = Number.POSITIVE_INFINITY;
    let lastOffset = Number.NEGATIVE_INFINITY;
    for (const { decoded, source } of entries) {
      // Read in place: a position object per record is garbage for all but the unusable ones.
      const offset = decoded.ok ? decoded.record.offset : decoded.position.offset;
      if (offset >= 0) {
        firstOffset = Math.min(firstOffset, offset);
        lastOffset = Math.max(lastOffset, offset);
      }
      const problem = decoded.ok ? problemOf(decoded.record.value, decoded.record) : undefined;
      if (decoded.ok && problem === undefined) records.push(decoded.record);
      else
        poison.push({
          source,
          position: positionOf(decoded),
          error: decoded.ok ? new ValidationError(problem ?? 'unusable value') : decoded.error,
        });
    }
    const [first] = entries;
    if (first && firstOffset <= lastOffset) {
      const { topic, partition } = positionOf(first.decoded);
      slices.push({ cluster, topic, partition, firstOffset, lastOffset, records });
    }
    unusable.push(poison);
  }
  await apply(slices);
  await hooks?.afterWrite?.(slices.flatMap((slice) => slice.records));
  const failed = await Promise.all(
    unusable.map(async (poison) => {
      for (const { source, position, error } of poison) {
        if (!(await settle(source, position, error, onFailure, deadLetters))) return position;
      }
      return undefined;
    }),
  );
  return batchItemFailures(
    failed.filter((position): position is RecordPosition => position !== undefined),
  );
};
