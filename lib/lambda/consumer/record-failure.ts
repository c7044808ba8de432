import type { MSKRecord } from 'aws-lambda';
import type { Settlement } from '../../kafka/dead-letters.ts';
import type { DecodedRecord, RecordPosition } from '../kafka-event.ts';

/** A record the consumer could not handle, for the log line that reports it. */
export interface RecordFailure {
  position: RecordPosition;
  error: unknown;
  /** Why the record was not dead-lettered (attempts left, Redis or the DLQ out of reach). */
  reason?: string;
}

/**
 * Decides about a record whose handling failed (lib/kafka/dead-letters.ts): 'dead-lettered'
 * (the partition moves on) or 'retry' (report it failed).
 */
export type RecordSettler = (source: MSKRecord, error: unknown) => Promise<Settlement>;

/**
 * Test seams of a consumer. Production handlers pass none: there is no flag to set them from
 * the environment.
 */
export interface ConsumerHooks {
  /**
   * Runs once a record's effects (or, for a whole-batch consumer, the batch's) are written and
   * before the invocation goes on; a throw fails the whole invocation, as a function killed
   * there (timeout, out of memory) would.
   */
  afterWrite?: (positions: RecordPosition[]) => void | Promise<void>;
}

/** What the loops (in-order.ts, claimed-in-order.ts, whole-batch.ts) do with a record that failed. */
export interface LoopOptions {
  /** Without it, a failed record stops its partition (it and what follows are redelivered). */
  deadLetters?: RecordSettler;
  hooks?: ConsumerHooks;
}

/** Where a decoded record, or one that could not be decoded, sits in Kafka. */
export const positionOf = (decoded: DecodedRecord): RecordPosition =>
  decoded.ok
    ? {
        topic: decoded.record.topic,
        partition: decoded.record.partition,
        offset: decoded.record.offset,
      }
    : decoded.position;

/**
 * Settles a failed record: true when it is dead-lettered (the partition goes on), false after
 * reporting it to `onFailure` (it must be redelivered).
 */
export const settle = async (
  source: MSKRecord,
  position: RecordPosition,
  error: unknown,
  onFailure: (failure: RecordFailure) => void,
  deadLetters: RecordSettler | undefined,
): Promise<boolean> => {
  const settlement = deadLetters ? await deadLetters(source, error) : undefined;
  if (settlement?.outcome === 'dead-lettered') return true;
  onFailure({ position, error, ...(settlement ? { reason: settlement.reason } : {}) });
  return false;
};

/**
 * One record of an in-order loop: `run` when the record is usable (`run` undefined: it is not,
 * for `unusable`), else, or when `run` throws, settle it. 'handled' and 'settled' (dead-lettered)
 * let the partition go on; 'stopped' means it stops at this record (reported for redelivery).
 */
export const runOrSettle = async (
  source: MSKRecord,
  position: RecordPosition,
  run: (() => Promise<unknown>) | undefined,
  unusable: unknown,
  onFailure: (failure: RecordFailure) => void,
  deadLetters: RecordSettler | undefined,
): Promise<'handled' | 'settled' | 'stopped'> => {
  let error = unusable;
  if (run) {
    try {
      await run();
      return 'handled';
    } catch (thrown) {
      error = thrown;
    }
  }
  return (await settle(source, position, error, onFailure, deadLetters)) ? 'settled' : 'stopped';
};
