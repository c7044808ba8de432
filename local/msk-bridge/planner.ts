import {
  type BatchDecision,
  type InvokedBatch,
  invalidResponseMessage,
  readKafkaBatchResponse,
} from '../../lib/lambda/batch-response.ts';
import { InvalidBatchResponseError, RecordReportedFailedError } from './errors.ts';

/**
 * The rules of a Kafka event-source mapping, as pure functions over plain data: which records
 * the next invocation gets, what Lambda makes of its answer, what is committed, retried or given
 * up. The broker-backed bridge (mapping-runner.ts) and embedded Kafka (local/embedded/) both play
 * them through mapping-engine.ts; planner.test.ts checks them without a broker.
 */

/** Lambda's synchronous invocation payload limit. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** What the event adds around its records, counted against the payload limit. */
export const EVENT_OVERHEAD_BYTES = 1024;

/** Exponential backoff between retries of a failing batch: initialMs, doubled each time, at most maxMs. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 200, maxMs: 10_000 };

/** The wait before retry number `retry` (1, 2, ...): 200 ms, 400 ms, ... up to 10 s by default. */
export const retryDelayMs = (retry: number, { initialMs, maxMs }: Backoff = DEFAULT_BACKOFF) =>
  Math.min(maxMs, initialMs * 2 ** (retry - 1));

/** What the planner needs to know of one partition's queue. */
export interface QueueView {
  partition: number;
  /** The size (bytes in the event) of each record waiting, in offset order. */
  waiting: readonly number[];
  /** When the oldest waiting record arrived: the batching window runs from here. */
  since: number | undefined;
  /** An invocation holds records of this partition (in flight, or waiting to be retried). */
  busy: boolean;
  /** The queue starts with records a partial response asked for again: no window for them. */
  redeliver: boolean;
  /** Backoff after a partial failure: no invocation before this time. */
  notBefore: number;
}

export interface BatchLimits {
  /** Most records per invocation. */
  batchSize: number;
  /** Longest a record waits for others before an invocation with fewer than batchSize. */
  windowMs: number;
  maxPayloadBytes?: number;
}

/** How many records of which partitions the next invocation takes, in that order. */
export type BatchPlan =
  | { kind: 'invoke'; take: Array<{ partition: number; count: number }> }
  /** Nothing is due before `until` (Infinity: not until records arrive or an invocation ends). */
  | { kind: 'wait'; until: number };

/**
 * The next invocation due at `now`: at most `batchSize` records, from the partitions that have
 * none in flight, oldest first, each partition's records from the head of its queue (so in
 * offset order), within the payload limit (one record always goes, whatever its size). An
 * invocation is due when it is full, when its oldest record has waited the window, or for a
 * redelivery; partitions backing off after a partial failure wait until their time.
 */
export const nextBatch = (
  queues: readonly QueueView[],
  now: number,
  { batchSize, windowMs, maxPayloadBytes = MAX_PAYLOAD_BYTES }: BatchLimits,
): BatchPlan => {
  const waiting = queues.filter((queue) => !queue.busy && queue.waiting.length > 0);
  const eligible = waiting
    .filter((queue) => queue.notBefore <= now)
    .sort((a, b) => (a.since ?? now) - (b.since ?? now));
  const backoffEnds = Math.min(
    ...waiting.filter((queue) => queue.notBefore > now).map((queue) => queue.notBefore),
  );
  if (eligible.length === 0) return { kind: 'wait', until: backoffEnds };
  const available = eligible.reduce((sum, queue) => sum + queue.waiting.length, 0);
  const oldest = eligible[0]?.since ?? now;
  const due =
    available >= batchSize || now - oldest >= windowMs || eligible.some((queue) => queue.redeliver);
  if (!due) return { kind: 'wait', until: Math.min(oldest + windowMs, backoffEnds) };
  const take: Array<{ partition: number; count: number }> = [];
  let count = 0;
  let bytes = EVENT_OVERHEAD_BYTES;
  for (const queue of eligible) {
    let taken = 0;
    while (taken < queue.waiting.length && count < batchSize) {
      const size = queue.waiting[taken] ?? 0;
      if (count > 0 && bytes + size > maxPayloadBytes) break;
      bytes += size;
      taken += 1;
      count += 1;
    }
    if (taken === 0) break;
    take.push({ partition: queue.partition, count: taken });
    if (count >= batchSize) break;
  }
  return { kind: 'invoke', take };
};

/** How an invocation ended, before Lambda's reading of it. */
export type InvocationOutcome =
  | { kind: 'returned'; response: unknown }
  | { kind: 'threw'; error: Error };

/** What Lambda makes of an invocation. */
export type Verdict =
  /** Every record is done; `ignoredPartialResponse`: a partial response the mapping does not read. */
  | { kind: 'success'; ignoredPartialResponse: boolean }
  /** `<topic>-<partition>` -> the lowest offset reported failed; partitions not named are done. */
  | { kind: 'partial'; redeliverFrom: ReadonlyMap<string, number> }
  /** The whole batch failed: the function threw, or answered a response Lambda cannot read. */
  | { kind: 'failed'; error: Error };

/**
 * Lambda's reading of an invocation of `batch`: a throw fails the whole batch; so does an invalid
 * partial response when the mapping has ReportBatchItemFailures (without it Lambda does not read
 * the response, and every answer is a success).
 */
export const verdictOf = (
  outcome: InvocationOutcome,
  batch: InvokedBatch,
  reportBatchItemFailures: boolean,
): Verdict => {
  if (outcome.kind === 'threw') return { kind: 'failed', error: outcome.error };
  const decision: BatchDecision = readKafkaBatchResponse(outcome.response, batch);
  if (decision.kind === 'success') return { kind: 'success', ignoredPartialResponse: false };
  if (!reportBatchItemFailures) return { kind: 'success', ignoredPartialResponse: true };
  if (decision.kind === 'partial') return decision;
  return {
    kind: 'failed',
    error: new InvalidBatchResponseError(invalidResponseMessage(decision.reason)),
  };
};

/**
 * After the `attempt`-th invocation of a batch failed as a whole: hand its records to the
 * on-failure destination once the retries are used up (the first invocation is not a retry),
 * else invoke again after the backoff. The backoff also applies when the destination refuses.
 */
export const afterFailedAttempt = (
  attempt: number,
  maxRetries: number,
  backoff: (retry: number) => number,
): { giveUp: boolean; retryInMs: number } => ({
  giveUp: attempt > maxRetries,
  retryInMs: backoff(attempt),
});

/** One partition's share of an invocation, and its failures so far. */
export interface InvokedPart {
  topic: string;
  partition: number;
  /** The offsets the invocation held, in order. */
  offsets: readonly number[];
  /** Consecutive partial failures at `failedOffset`, before this invocation. */
  failures: number;
  failedOffset: number | undefined;
}

/** What becomes of one partition's share after a valid partial response. */
export type PartialOutcome =
  /** Not named in the response: all of it is done. */
  | { kind: 'done'; commit: number }
  | {
      kind: 'redeliver';
      /** The offset to commit now (the next to read), when records before the failed one are done. */
      commit: number | undefined;
      /** The lowest failed offset: it and the records after it are invoked again. */
      from: number;
      /** Consecutive failures at `from`, this one included. */
      failures: number;
      /**
       * The failed record has used up its retries: hand it (alone) to the on-failure
       * destination, then go on from the record after it.
       */
      giveUp: RecordReportedFailedError | undefined;
    };

/**
 * Lambda's reading of a valid partial response for one partition's share: the records before
 * the lowest failed offset are done (committed), the rest is invoked again; a record reported at
 * the same offset more than `maxRetries` times in a row goes to the on-failure destination.
 */
export const afterPartialResponse = (
  part: InvokedPart,
  redeliverFrom: ReadonlyMap<string, number>,
  maxRetries: number,
): PartialOutcome => {
  const topicPartition = `${part.topic}-${part.partition}`;
  const from = redeliverFrom.get(topicPartition);
  const last = part.offsets[part.offsets.length - 1] ?? -1;
  if (from === undefined) return { kind: 'done', commit: last + 1 };
  const failures = part.failedOffset === from ? part.failures + 1 : 1;
  return {
    kind: 'redeliver',
    commit: part.offsets.some((offset) => offset < from) ? from : undefined,
    from,
    failures,
    giveUp:
      failures > maxRetries && part.offsets.some((offset) => offset >= from)
        ? new RecordReportedFailedError(topicPartition, from)
        : undefined,
  };
};
