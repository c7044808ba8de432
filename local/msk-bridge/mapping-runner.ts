import { setTimeout as delay } from 'node:timers/promises';
import type { Consumer, Kafka, Batch as KafkaBatch, KafkaMessage } from 'kafkajs';
import { invalidResponseMessage, readKafkaBatchResponse } from '../../lib/lambda/batch-response.ts';
import {
  buildKafkaEvent,
  type KafkaEventRecord,
  toEventRecord,
  topicPartitionOf,
} from '../../lib/lambda/kafka-event-builder.ts';
import { InvalidBatchResponseError, RecordReportedFailedError } from './errors.ts';
import type { Invoke, KafkaMapping, Log } from './types.ts';

/**
 * One event-source mapping played against a real broker: one kafkajs consumer (the mapping's
 * consumer group) feeding per-partition queues, batches of up to `batchSize` records formed when
 * full or when the batching window ran out, one invocation at a time per partition, offsets
 * committed only after the function succeeded, failed batches retried.
 */

/** What happened, for observers (tests, logs, metrics). */
export type BridgeEvent =
  | { type: 'ready'; mapping: string; partitions: number[] }
  | { type: 'invoke'; mapping: string; batch: number; attempt: number; records: number }
  | { type: 'success'; mapping: string; batch: number; attempt: number }
  | { type: 'failure'; mapping: string; batch: number; attempt: number; error: Error }
  | { type: 'partial'; mapping: string; batch: number; redeliverFrom: Record<string, number> }
  | { type: 'commit'; mapping: string; topic: string; partition: number; offset: number }
  | { type: 'skip'; mapping: string; records: KafkaEventRecord[]; error: Error };

export interface MappingStats {
  /** Records read from Kafka. */
  received: number;
  invocations: number;
  /** Records passed to the function, redeliveries included. */
  delivered: number;
  /** Invocations that failed (threw, or answered an invalid partial response). */
  failures: number;
  /** Invocations that repeated records already delivered. */
  retries: number;
  partialFailures: number;
  commits: number;
  commitErrors: number;
  /** Records given up on after `maxRetries` (handed to `onRetriesExhausted`). */
  skipped: number;
}

/**
 * Called when records failed more than `maxRetries` times in a row. Resolving means "handled"
 * (the bridge commits past them and moves on); throwing means "keep them" (retried again).
 */
export type OnRetriesExhausted = (
  records: KafkaEventRecord[],
  error: Error,
  context: { mapping: KafkaMapping; attempts: number },
) => Promise<void> | void;

export interface MappingRunnerOptions {
  kafka: Kafka;
  mapping: KafkaMapping;
  invoke: Invoke;
  /** The event's `bootstrapServers`. */
  bootstrapServers: string;
  maxRetries: number;
  /** Milliseconds to wait before the n-th retry (n from 1). */
  retryDelayMs: (retry: number) => number;
  onRetriesExhausted: OnRetriesExhausted;
  log: Log;
  emit: (event: BridgeEvent) => void;
  /** Partitions handled at once (kafkajs partitionsConsumedConcurrently). */
  concurrency: number;
  /** How long the broker may hold a fetch open when there is nothing to read. */
  fetchMaxWaitMs: number;
}

export interface MappingRunner {
  stats: () => MappingStats;
  /** Stops invoking, awaits the invocations in flight (and their commits), leaves the group. */
  stop: () => Promise<void>;
}

/** Lambda's synchronous invocation payload limit. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
const EVENT_OVERHEAD_BYTES = 1024;

interface QueuedRecord {
  record: KafkaEventRecord;
  bytes: number;
}

interface PartitionState {
  partition: number;
  /** Records not yet handed to an invocation, in offset order. */
  queue: QueuedRecord[];
  /** When the queue's oldest record arrived: the batching window runs from here. */
  since: number | undefined;
  /** An invocation with records of this partition is in flight (or waiting to be retried). */
  busy: boolean;
  /** The queue starts with records a partial response asked for again: no window for them. */
  redeliver: boolean;
  /** Backoff after a partial failure: no invocation before this time. */
  notBefore: number;
  /** Consecutive partial failures at `failedOffset`. */
  failures: number;
  failedOffset: number | undefined;
  /** The next offset expected from Kafka; older ones are duplicates of queued records. */
  nextOffset: number | undefined;
  /** Bumped on every group (re)join: work of an older epoch is not committed nor retried. */
  epoch: number;
  /** Fetching paused (kafkajs consumer.pause) while about a batch is queued: back-pressure. */
  paused: boolean;
}

interface BatchPart {
  state: PartitionState;
  epoch: number;
  records: QueuedRecord[];
}

const newStats = (): MappingStats => ({
  received: 0,
  invocations: 0,
  delivered: 0,
  failures: 0,
  retries: 0,
  partialFailures: 0,
  commits: 0,
  commitErrors: 0,
  skipped: 0,
});

const asError = (error: unknown): Error =>
  error instanceof Error ? error : new Error(String(error));

const lastOffsetOf = (records: readonly QueuedRecord[]): number =>
  records[records.length - 1]?.record.offset ?? -1;

/** `orders-0@12..20, orders-2@3..4`: which records a batch holds, for logs. */
export const describeRecords = (records: readonly KafkaEventRecord[]): string => {
  const ranges = new Map<string, [number, number]>();
  for (const { topic, partition, offset } of records) {
    const key = topicPartitionOf({ topic, partition });
    const range = ranges.get(key);
    ranges.set(
      key,
      range ? [Math.min(range[0], offset), Math.max(range[1], offset)] : [offset, offset],
    );
  }
  return [...ranges]
    .map(([key, [first, last]]) =>
      first === last ? `${key}@${first}` : `${key}@${first}..${last}`,
    )
    .join(', ');
};

export const startMappingRunner = async (options: MappingRunnerOptions): Promise<MappingRunner> => {
  const { kafka, mapping, invoke, log, emit, maxRetries, retryDelayMs } = options;
  const { topic, batchSize, batchingWindowMs: windowMs } = mapping;
  const stats = newStats();
  const partitions = new Map<number, PartitionState>();
  const inFlight = new Set<Promise<void>>();
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let commits: Promise<void> = Promise.resolve();
  let batchCount = 0;

  const consumer: Consumer = kafka.consumer({
    groupId: mapping.consumerGroupId,
    maxWaitTimeInMs: options.fetchMaxWaitMs,
    allowAutoTopicCreation: false,
  });

  const stateOf = (partition: number): PartitionState => {
    const known = partitions.get(partition);
    if (known) return known;
    const state: PartitionState = {
      partition,
      queue: [],
      since: undefined,
      busy: false,
      redeliver: false,
      notBefore: 0,
      failures: 0,
      failedOffset: undefined,
      nextOffset: undefined,
      epoch: 0,
      paused: false,
    };
    partitions.set(partition, state);
    return state;
  };

  // Back-pressure per partition: fetching stops while a batch's worth is queued, so a function
  // that keeps failing holds up its own partition only (a blocked eachBatch would stop kafkajs
  // fetching for every partition of the broker).
  // kafkajs throws from pause/resume while its consumer restarts after a crash (no group yet);
  // nothing is lost then: the rejoin (GROUP_JOIN below) resets every partition and resumes it.
  const tryConsumer = (what: 'pause' | 'resume', partition: number): boolean => {
    try {
      consumer[what]([{ topic, partitions: [partition] }]);
      return true;
    } catch (error) {
      log(
        'debug',
        `${mapping.functionKey}: could not ${what} ${topic}-${partition}: ${asError(error).message}`,
      );
      return false;
    }
  };
  const pauseIfFull = (state: PartitionState) => {
    if (state.paused || state.queue.length < batchSize || stopping.signal.aborted) return;
    state.paused = tryConsumer('pause', state.partition);
  };
  const resumeIfRoom = (state: PartitionState) => {
    if (!state.paused || state.queue.length >= batchSize) return;
    state.paused = false;
    tryConsumer('resume', state.partition);
  };

  // --- commits: one request at a time, coalescing what queued up meanwhile, so the offsets of a
  // partition only move forward and a slow commit does not hold up the next invocation ---

  const pendingCommits = new Map<number, { part: BatchPart; offset: number }>();

  const flushCommits = async () => {
    while (pendingCommits.size > 0) {
      const due = [...pendingCommits.values()].filter(
        ({ part }) => part.epoch === part.state.epoch,
      );
      pendingCommits.clear();
      if (due.length === 0) continue;
      try {
        await consumer.commitOffsets(
          due.map(({ part, offset }) => ({
            topic,
            partition: part.state.partition,
            offset: String(offset),
          })),
        );
        for (const { part, offset } of due) {
          stats.commits += 1;
          emit({
            type: 'commit',
            mapping: mapping.id,
            topic,
            partition: part.state.partition,
            offset,
          });
        }
      } catch (error) {
        stats.commitErrors += 1;
        log(
          'warn',
          `${mapping.functionKey}: could not commit ${due.map(({ part, offset }) => `${topic}-${part.state.partition}@${offset}`).join(', ')} (records may be delivered again): ${asError(error).message}`,
        );
      }
    }
  };

  /** Commits `offset` (the next one to read) for the part's partition, unless the group moved on. */
  const commit = (part: BatchPart, offset: number) => {
    if (part.epoch !== part.state.epoch) return; // not ours any more: delivered again, not lost
    const known = pendingCommits.get(part.state.partition);
    if (!known || known.offset < offset) pendingCommits.set(part.state.partition, { part, offset });
    commits = commits.then(flushCommits);
  };

  // --- forming batches ---

  const schedule = (at: number) => {
    if (stopping.signal.aborted || !Number.isFinite(at)) return;
    timer = setTimeout(pump, Math.max(0, at - Date.now()));
  };

  const takeBatch = (eligible: PartitionState[]): BatchPart[] => {
    const parts: BatchPart[] = [];
    let count = 0;
    let bytes = EVENT_OVERHEAD_BYTES;
    for (const state of eligible) {
      let take = 0;
      while (take < state.queue.length && count < batchSize) {
        const size = state.queue[take]?.bytes ?? 0;
        if (count > 0 && bytes + size > MAX_PAYLOAD_BYTES) break;
        bytes += size;
        take += 1;
        count += 1;
      }
      if (take === 0) break;
      const records = state.queue.splice(0, take);
      if (state.queue.length === 0) state.since = undefined;
      state.busy = true;
      state.redeliver = false;
      parts.push({ state, epoch: state.epoch, records });
      resumeIfRoom(state);
      if (count >= batchSize) break;
    }
    return parts;
  };

  /** Starts every batch that is due; otherwise sets a timer for when one will be. */
  function pump(): void {
    clearTimeout(timer);
    timer = undefined;
    if (stopping.signal.aborted) return;
    for (;;) {
      const now = Date.now();
      const waiting = [...partitions.values()].filter((s) => !s.busy && s.queue.length > 0);
      const eligible = waiting
        .filter((s) => s.notBefore <= now)
        .sort((a, b) => (a.since ?? now) - (b.since ?? now));
      const backoffEnds = Math.min(
        ...waiting.filter((s) => s.notBefore > now).map((s) => s.notBefore),
      );
      if (eligible.length === 0) {
        schedule(backoffEnds);
        return;
      }
      const available = eligible.reduce((sum, s) => sum + s.queue.length, 0);
      const oldest = eligible[0]?.since ?? now;
      const due =
        available >= batchSize || now - oldest >= windowMs || eligible.some((s) => s.redeliver);
      if (!due) {
        schedule(Math.min(oldest + windowMs, backoffEnds));
        return;
      }
      launch(takeBatch(eligible));
    }
  }

  const launch = (parts: BatchPart[]) => {
    batchCount += 1;
    const run = runBatch(batchCount, parts)
      .catch((error: unknown) => {
        log('error', `${mapping.functionKey}: batch failed unexpectedly: ${asError(error).stack}`);
        for (const part of parts) part.state.busy = false;
      })
      .finally(() => {
        inFlight.delete(run);
        pump();
      });
    inFlight.add(run);
  };

  // --- running a batch ---

  /** Hands records to `onRetriesExhausted`; true when it took them (resolved). */
  const giveUp = async (records: KafkaEventRecord[], error: Error, attempts: number) => {
    try {
      await options.onRetriesExhausted(records, error, { mapping, attempts });
    } catch (refusal) {
      log(
        'error',
        `${mapping.functionKey}: onRetriesExhausted failed for ${describeRecords(records)}, retrying them: ${asError(refusal).message}`,
      );
      return false;
    }
    stats.skipped += records.length;
    emit({ type: 'skip', mapping: mapping.id, records, error });
    return true;
  };

  const finish = (parts: BatchPart[]) => {
    for (const part of parts) {
      commit(part, lastOffsetOf(part.records) + 1);
      part.state.failures = 0;
      part.state.failedOffset = undefined;
      part.state.busy = false;
    }
  };

  /** A valid partial response: commit what is done, queue the rest again at the head. */
  const settlePartial = async (
    batch: number,
    parts: BatchPart[],
    redeliverFrom: ReadonlyMap<string, number>,
  ) => {
    stats.partialFailures += 1;
    emit({
      type: 'partial',
      mapping: mapping.id,
      batch,
      redeliverFrom: Object.fromEntries(redeliverFrom),
    });
    for (const part of parts) {
      const { state } = part;
      const from = redeliverFrom.get(topicPartitionOf({ topic, partition: state.partition }));
      if (from === undefined) {
        finish([part]);
        continue;
      }
      let again = part.records.filter(({ record }) => record.offset >= from);
      if (again.length < part.records.length) commit(part, from);
      state.failures = state.failedOffset === from ? state.failures + 1 : 1;
      state.failedOffset = from;
      if (state.failures > maxRetries && again[0]) {
        const error = new RecordReportedFailedError(`${topic}-${state.partition}`, from);
        if (await giveUp([again[0].record], error, state.failures)) {
          commit(part, from + 1);
          again = again.slice(1);
          state.failures = 0;
          state.failedOffset = undefined;
        }
      }
      if (part.epoch === state.epoch && !stopping.signal.aborted && again.length > 0) {
        state.queue.unshift(...again);
        state.since = Date.now();
        state.redeliver = true;
        state.notBefore = Date.now() + (state.failures > 0 ? retryDelayMs(state.failures) : 0);
      }
      state.busy = false;
    }
  };

  async function runBatch(batch: number, parts: BatchPart[]): Promise<void> {
    const records = parts.flatMap((part) => part.records.map(({ record }) => record));
    const event = buildKafkaEvent(mapping, options.bootstrapServers, records);
    const redelivery = parts.some((part) => part.state.failedOffset !== undefined);
    for (let attempt = 1; ; attempt += 1) {
      stats.invocations += 1;
      stats.delivered += records.length;
      if (attempt > 1 || redelivery) stats.retries += 1;
      emit({ type: 'invoke', mapping: mapping.id, batch, attempt, records: records.length });
      let error: Error;
      try {
        const result = await invoke(mapping.functionName, event);
        const decision = readKafkaBatchResponse(result, event);
        if (!mapping.reportBatchItemFailures || decision.kind === 'success') {
          if (decision.kind !== 'success') {
            log(
              'warn',
              `${mapping.functionKey}: the function answered a partial batch response, but ReportBatchItemFailures is not enabled on this mapping: ignored, the whole batch counts as processed (as on AWS)`,
            );
          }
          finish(parts);
          emit({ type: 'success', mapping: mapping.id, batch, attempt });
          return;
        }
        if (decision.kind === 'partial') {
          await settlePartial(batch, parts, decision.redeliverFrom);
          return;
        }
        error = new InvalidBatchResponseError(invalidResponseMessage(decision.reason));
      } catch (thrown) {
        error = asError(thrown);
      }
      stats.failures += 1;
      emit({ type: 'failure', mapping: mapping.id, batch, attempt, error });
      if (stopping.signal.aborted || parts.some((part) => part.epoch !== part.state.epoch)) {
        for (const part of parts) part.state.busy = false; // not committed: delivered again later
        return;
      }
      if (attempt > maxRetries && (await giveUp(records, error, attempt))) {
        finish(parts);
        return;
      }
      const wait = retryDelayMs(attempt);
      log(
        'warn',
        `${mapping.functionKey}: invocation ${attempt} with ${describeRecords(records)} failed (${error.message}); retrying in ${wait} ms`,
      );
      await delay(wait, undefined, { signal: stopping.signal }).catch(() => undefined);
      if (stopping.signal.aborted) {
        for (const part of parts) part.state.busy = false; // not committed: delivered again later
        return;
      }
    }
  }

  // --- the consumer ---

  const enqueue = (state: PartitionState, messages: KafkaMessage[], lastOffset: number) => {
    const fresh =
      state.nextOffset === undefined
        ? messages
        : messages.filter(({ offset }) => Number(offset) >= (state.nextOffset ?? 0));
    state.nextOffset = lastOffset + 1;
    if (fresh.length === 0) return;
    if (state.queue.length === 0) state.since = Date.now();
    for (const message of fresh) {
      const record = toEventRecord(topic, state.partition, message);
      state.queue.push({ record, bytes: JSON.stringify(record).length + 1 });
    }
    stats.received += fresh.length;
  };

  const eachBatch = async ({
    batch,
    resolveOffset,
  }: {
    batch: KafkaBatch;
    resolveOffset: (offset: string) => void;
  }) => {
    if (stopping.signal.aborted) return;
    const state = stateOf(batch.partition);
    enqueue(state, batch.messages, Number(batch.lastOffset()));
    // Fetch on from here; nothing is committed until the function has succeeded.
    resolveOffset(batch.lastOffset());
    pump();
    pauseIfFull(state);
  };

  let ready: () => void = () => undefined;
  const joined = new Promise<void>((resolve) => {
    ready = resolve;
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const assigned = payload.memberAssignment[topic] ?? [];
    // A (re)join: kafkajs fetches again from the committed offsets, so queued records and
    // in-flight work of the old assignment are dropped (they were not committed).
    consumer.resume([{ topic, partitions: [...partitions.keys()] }]);
    for (const state of partitions.values()) {
      state.epoch += 1;
      state.queue = [];
      state.since = undefined;
      state.redeliver = false;
      state.notBefore = 0;
      state.failures = 0;
      state.failedOffset = undefined;
      state.nextOffset = undefined;
      state.paused = false;
    }
    emit({ type: 'ready', mapping: mapping.id, partitions: [...assigned].sort((a, b) => a - b) });
    ready();
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    log(
      'error',
      `${mapping.functionKey}: consumer of ${topic} crashed (${payload.error.message})${payload.restart ? ', restarting' : ', not restarting'}`,
    );
  });

  await consumer.connect();
  try {
    await consumer.subscribe({
      topics: [topic],
      fromBeginning: mapping.startingPosition !== 'LATEST',
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.concurrency,
      eachBatch,
    });
    await joined;
  } catch (error) {
    await consumer.disconnect().catch(() => undefined);
    throw error;
  }

  const stop = async () => {
    if (!stopping.signal.aborted) {
      stopping.abort();
      clearTimeout(timer);
    }
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    await commits;
    await consumer.disconnect();
  };

  return { stats: () => ({ ...stats }), stop };
};
