import type { MSKEvent, MSKRecord, SelfManagedKafkaEvent } from 'aws-lambda';
import { batchItemFailures, type KafkaBatchResponse } from '../batch-response.ts';
import {
  decodeKafkaEventWithSource,
  type KafkaRecord,
  type RecordPosition,
} from '../kafka-event.ts';
import { type LoopOptions, positionOf, type RecordFailure, runOrSettle } from './record-failure.ts';

/** What a consumer's domain hands back once it claimed the usable records of a batch. */
export interface ClaimedBatch<U> {
  /** Handles one claimed value, in its partition's offset order; a throw settles its record. */
  run: (value: U) => Promise<unknown>;
  /** The values of a stopped partition that will not run in this invocation. */
  release: (values: readonly U[]) => void;
  /** Writes what the runs and releases left (the batch's last request). */
  finish: () => Promise<void>;
}

export interface ClaimingWork<T, U> {
  /** The usable value of a decoded record; a throw makes the record unusable (it is settled). */
  parse: (record: KafkaRecord<T>) => U;
  /** Claims every usable value of the batch at once (all partitions). */
  claim: (values: U[]) => Promise<ClaimedBatch<U>>;
}

/**
 * The batch of a claim that threw (Redis out of reach): each record fails with its error, as
 * each would have failed alone, so it is settled (counted, reported failed, redelivered).
 */
const unclaimed = <U>(error: unknown): ClaimedBatch<U> => ({
  run: () => Promise.reject(error),
  release: () => undefined,
  finish: () => Promise.resolve(),
});

interface Entry<U> {
  source: MSKRecord;
  position: RecordPosition;
  usable: boolean;
  value?: U;
  error?: unknown;
}

/**
 * The in-order loop (in-order.ts) for a domain that reads and writes a batch in one request each
 * instead of per record: every record is decoded and parsed first, `claim` takes all usable
 * values at once, then each partition runs its records strictly in offset order (partitions
 * concurrently) and a failed record is settled exactly as the in-order loop settles it:
 * dead-lettered, the partition goes on; otherwise the partition stops there, its offset goes
 * into `batchItemFailures`, and the usable values after it are released. Then `finish` writes
 * what was decided, and `afterWrite` sees every record handled.
 * When `claim` throws, every usable record fails with its error and is settled as such (the
 * first of each partition is counted and reported failed). A throw from `finish` fails the
 * invocation (the batch is redelivered whole).
 */
export const handleClaimedInOrder = async <T, U>(
  event: MSKEvent | SelfManagedKafkaEvent,
  { parse, claim }: ClaimingWork<T, U>,
  onFailure: (failure: RecordFailure) => void = () => undefined,
  { deadLetters, hooks }: LoopOptions = {},
): Promise<KafkaBatchResponse> => {
  const lanes: Entry<U>[][] = [];
  const usable: U[] = [];
  for (const records of decodeKafkaEventWithSource<T>(event).values()) {
    lanes.push(
      records.map(({ decoded, source }): Entry<U> => {
        const position = positionOf(decoded);
        if (!decoded.ok) return { source, position, usable: false, error: decoded.error };
        try {
          const value = parse(decoded.record);
          usable.push(value);
          return { source, position, usable: true, value };
        } catch (error) {
          return { source, position, usable: false, error };
        }
      }),
    );
  }
  const batch = await claim(usable).catch(unclaimed<U>);
  const handled: RecordPosition[] = [];
  const failed = await Promise.all(
    lanes.map(async (entries) => {
      for (const [i, entry] of entries.entries()) {
        const outcome = await runOrSettle(
          entry.source,
          entry.position,
          entry.usable ? () => batch.run(entry.value as U) : undefined,
          entry.error,
          onFailure,
          deadLetters,
        );
        if (outcome === 'handled') handled.push(entry.position);
        if (outcome === 'stopped') {
          batch.release(
            entries.slice(i + 1).flatMap((later) => (later.usable ? [later.value as U] : [])),
          );
          return entry.position;
        }
      }
      return undefined;
    }),
  );
  await batch.finish();
  // Outside any try: a throw here is the invocation dying, not a failed record.
  await hooks?.afterWrite?.(handled);
  return batchItemFailures(
    failed.filter((position): position is RecordPosition => position !== undefined),
  );
};
