import type { KafkaEventRecord } from '../../lib/lambda/kafka-event-builder.ts';
import type { QueueView } from './planner.ts';

/** A record waiting for an invocation, with its size in the event. */
export interface QueuedRecord {
  record: KafkaEventRecord;
  bytes: number;
}

/** Records of one partition taken by an invocation, and the assignment they were taken in. */
export interface BatchPart {
  queue: PartitionQueue;
  epoch: number;
  records: QueuedRecord[];
}

/**
 * One partition of a mapping: the records read but not yet invoked (in offset order), whether
 * an invocation holds some, and the partial failures at its head. The mapping engine takes
 * batches from here (planner.ts decides how many) and puts back what must be redelivered.
 */
export class PartitionQueue {
  /** Records not yet handed to an invocation, in offset order. */
  records: QueuedRecord[] = [];
  /** When the oldest queued record arrived: the batching window runs from here. */
  since: number | undefined;
  /** An invocation with records of this partition is in flight (or waiting to be retried). */
  busy = false;
  /** The queue starts with records a partial response asked for again. */
  redeliver = false;
  /** Backoff after a partial failure: no invocation before this time. */
  notBefore = 0;
  /** Consecutive partial failures at `failedOffset`. */
  failures = 0;
  failedOffset: number | undefined;
  /** The next offset expected from the source; older ones are duplicates of queued records. */
  nextOffset: number | undefined;
  /** Bumped on every group (re)join: work of an older epoch is neither committed nor retried. */
  epoch = 0;
  /** Fetching paused at the source while about a batch is queued (back-pressure). */
  paused = false;

  constructor(readonly partition: number) {}

  /**
   * Queues the records read from the source, skipping any it sent again (below nextOffset);
   * `lastOffset` is where the source says it read up to. Returns how many were new.
   */
  enqueue(records: readonly KafkaEventRecord[], lastOffset: number, now: number): number {
    const fresh =
      this.nextOffset === undefined
        ? records
        : records.filter(({ offset }) => offset >= (this.nextOffset ?? 0));
    this.nextOffset = lastOffset + 1;
    if (fresh.length === 0) return 0;
    if (this.records.length === 0) this.since = now;
    for (const record of fresh)
      this.records.push({ record, bytes: JSON.stringify(record).length + 1 });
    return fresh.length;
  }

  /** Hands the first `count` records to an invocation: the partition is busy until it settles. */
  take(count: number): BatchPart {
    const records = this.records.splice(0, count);
    if (this.records.length === 0) this.since = undefined;
    this.busy = true;
    this.redeliver = false;
    return { queue: this, epoch: this.epoch, records };
  }

  /** Puts records a partial response named back at the head, to go again from `notBefore`. */
  redeliverFirst(records: readonly QueuedRecord[], now: number, notBefore: number): void {
    this.records.unshift(...records);
    this.since = now;
    this.redeliver = true;
    this.notBefore = notBefore;
  }

  /** Records the consecutive partial failures at `offset` (undefined: none any more). */
  failedAt(offset: number | undefined, failures: number): void {
    this.failedOffset = offset;
    this.failures = failures;
  }

  /** The invocation holding this partition's records is over. */
  release(): void {
    this.busy = false;
  }

  /** Whether `part` was taken in the current assignment (else its records come again anyway). */
  owns(part: BatchPart): boolean {
    return part.epoch === this.epoch;
  }

  /** A (re)join: the source reads again from the committed offsets, so queued work is dropped. */
  reassign(): void {
    this.epoch += 1;
    this.records = [];
    this.since = undefined;
    this.redeliver = false;
    this.notBefore = 0;
    this.failures = 0;
    this.failedOffset = undefined;
    this.nextOffset = undefined;
    this.paused = false;
  }

  /** What the planner sees: the sizes of the first `limit` records (no batch takes more). */
  view(limit: number): QueueView {
    return {
      partition: this.partition,
      waiting: this.records.slice(0, limit).map(({ bytes }) => bytes),
      since: this.since,
      busy: this.busy,
      redeliver: this.redeliver,
      notBefore: this.notBefore,
    };
  }
}
