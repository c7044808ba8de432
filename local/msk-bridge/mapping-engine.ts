import { setTimeout as delay } from 'node:timers/promises';
import { buildKafkaEvent, type KafkaEventRecord } from '../../lib/lambda/kafka-event-builder.ts';
import { CommitQueue } from './commit-queue.ts';
import { describeRecords } from './log.ts';
import { type BatchPart, PartitionQueue } from './partition-queue.ts';
import {
  afterFailedAttempt,
  afterPartialResponse,
  type InvocationOutcome,
  nextBatch,
  verdictOf,
} from './planner.ts';
import type { MappingEngineOptions, MappingStats } from './types.ts';

/**
 * One event-source mapping played over any source of records: per-partition queues, batches as
 * planner.ts forms them, one invocation at a time per partition, commits after success, retries
 * and the on-failure destination. The source feeds it (`push`) and stores its commits: a kafkajs
 * consumer group (mapping-runner.ts) or embedded Kafka's in-memory log (local/embedded/).
 * A little over 300 lines: the invocation loop (pump, run, settle, give up) shares the queues,
 * the commits, the counters and the stop signal, so it stays one class; its rules are in
 * planner.ts, its state in partition-queue.ts and commit-queue.ts.
 */

const asError = (error: unknown): Error =>
  error instanceof Error ? error : new Error(String(error));

export class MappingEngine {
  readonly #options: MappingEngineOptions;
  readonly #queues = new Map<number, PartitionQueue>();
  readonly #commits: CommitQueue;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stopping = new AbortController();
  readonly #idleWaiters = new Set<() => void>();
  readonly #stats: MappingStats = {
    received: 0,
    invocations: 0,
    delivered: 0,
    failures: 0,
    retries: 0,
    partialFailures: 0,
    commits: 0,
    commitErrors: 0,
    skipped: 0,
  };
  #timer: NodeJS.Timeout | undefined;
  #batchCount = 0;

  constructor(options: MappingEngineOptions) {
    this.#options = options;
    const { mapping, log, emit } = options;
    this.#commits = new CommitQueue(
      options.commit,
      ({ partition, offset }) => {
        this.#stats.commits += 1;
        emit({ type: 'commit', mapping: mapping.id, topic: mapping.topic, partition, offset });
      },
      (offsets, error) => {
        this.#stats.commitErrors += 1;
        const what = offsets.map(
          ({ partition, offset }) => `${mapping.topic}-${partition}@${offset}`,
        );
        log(
          'warn',
          `${mapping.functionKey}: could not commit ${what.join(', ')} (records may be delivered again): ${asError(error).message}`,
        );
      },
    );
  }

  /** Whether stop() was called. */
  get stopped(): boolean {
    return this.#stopping.signal.aborted;
  }

  stats(): MappingStats {
    return { ...this.#stats };
  }

  /** Queues records the source read from `partition` (up to `lastOffset`) and starts what is due. */
  push(partition: number, records: readonly KafkaEventRecord[], lastOffset: number): void {
    if (this.#stopping.signal.aborted) return;
    const queue = this.#queueOf(partition);
    this.#stats.received += queue.enqueue(records, lastOffset, Date.now());
    this.#pump();
    if (queue.paused || queue.records.length < this.#options.mapping.batchSize) return;
    queue.paused = this.#options.flow?.pause(partition) ?? false;
  }

  /** A group (re)join: queued records and work in flight are dropped, none of it committed. */
  reassign(): void {
    for (const queue of this.#queues.values()) queue.reassign();
  }

  /** The partitions seen so far. */
  partitions(): number[] {
    return [...this.#queues.keys()];
  }

  /** Resolves once nothing is queued or in flight (or the engine stopped). */
  async idle(): Promise<void> {
    while (!this.#stopping.signal.aborted && !this.#isIdle()) {
      await new Promise<void>((resolve) => this.#idleWaiters.add(resolve));
    }
  }

  /** Stops invoking, awaits the invocations in flight and their commits. */
  async stop(): Promise<void> {
    if (!this.#stopping.signal.aborted) {
      this.#stopping.abort();
      clearTimeout(this.#timer);
      this.#notifyIdle();
    }
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#commits.settled();
  }

  #queueOf(partition: number): PartitionQueue {
    let queue = this.#queues.get(partition);
    if (queue === undefined) {
      queue = new PartitionQueue(partition);
      this.#queues.set(partition, queue);
    }
    return queue;
  }

  #isIdle(): boolean {
    return (
      this.#inFlight.size === 0 &&
      [...this.#queues.values()].every((queue) => queue.records.length === 0)
    );
  }

  #notifyIdle(): void {
    if (!this.#stopping.signal.aborted && !this.#isIdle()) return;
    for (const resolve of this.#idleWaiters) resolve();
    this.#idleWaiters.clear();
  }

  /** Starts every batch that is due; otherwise sets a timer for when one will be. */
  #pump(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const { batchSize, batchingWindowMs: windowMs } = this.#options.mapping;
    while (!this.#stopping.signal.aborted) {
      const queues = [...this.#queues.values()];
      const plan = nextBatch(
        queues.map((queue) => queue.view(batchSize)),
        Date.now(),
        { batchSize, windowMs },
      );
      if (plan.kind === 'wait') {
        if (Number.isFinite(plan.until)) {
          this.#timer = setTimeout(() => this.#pump(), Math.max(0, plan.until - Date.now()));
        }
        return;
      }
      this.#launch(plan.take.map(({ partition, count }) => this.#take(partition, count)));
    }
  }

  #take(partition: number, count: number): BatchPart {
    const queue = this.#queueOf(partition);
    const part = queue.take(count);
    if (queue.paused && queue.records.length < this.#options.mapping.batchSize) {
      queue.paused = false;
      this.#options.flow?.resume(partition);
    }
    return part;
  }

  #launch(parts: BatchPart[]): void {
    this.#batchCount += 1;
    const run = this.#runBatch(this.#batchCount, parts)
      .catch((error: unknown) => {
        this.#options.log(
          'error',
          `${this.#options.mapping.functionKey}: batch failed unexpectedly: ${asError(error).stack}`,
        );
        for (const part of parts) part.queue.release();
      })
      .finally(() => {
        this.#inFlight.delete(run);
        this.#pump();
        this.#notifyIdle();
      });
    this.#inFlight.add(run);
  }

  /** Hands records to `onRetriesExhausted`; true when it took them (resolved). */
  async #giveUp(records: KafkaEventRecord[], error: Error, attempts: number): Promise<boolean> {
    const { mapping, onRetriesExhausted, log, emit } = this.#options;
    try {
      await onRetriesExhausted(records, error, { mapping, attempts });
    } catch (refusal) {
      log(
        'error',
        `${mapping.functionKey}: onRetriesExhausted failed for ${describeRecords(records)}, retrying them: ${asError(refusal).message}`,
      );
      return false;
    }
    this.#stats.skipped += records.length;
    emit({ type: 'skip', mapping: mapping.id, records, error });
    return true;
  }

  /** The parts are done: commit past them. */
  #finish(parts: BatchPart[]): void {
    for (const part of parts) {
      const last = part.records[part.records.length - 1]?.record.offset ?? -1;
      this.#commits.add(part, last + 1);
      part.queue.failedAt(undefined, 0);
      part.queue.release();
    }
  }

  /** A valid partial response: commit what is done, queue the rest again at the head. */
  async #settlePartial(
    batch: number,
    parts: BatchPart[],
    redeliverFrom: ReadonlyMap<string, number>,
  ) {
    const { mapping, maxRetries, retryDelayMs, emit } = this.#options;
    this.#stats.partialFailures += 1;
    emit({
      type: 'partial',
      mapping: mapping.id,
      batch,
      redeliverFrom: Object.fromEntries(redeliverFrom),
    });
    for (const part of parts) {
      const { queue } = part;
      const outcome = afterPartialResponse(
        {
          topic: mapping.topic,
          partition: queue.partition,
          offsets: part.records.map(({ record }) => record.offset),
          failures: queue.failures,
          failedOffset: queue.failedOffset,
        },
        redeliverFrom,
        maxRetries,
      );
      if (outcome.kind === 'done') {
        this.#finish([part]);
        continue;
      }
      let again = part.records.filter(({ record }) => record.offset >= outcome.from);
      if (outcome.commit !== undefined) this.#commits.add(part, outcome.commit);
      queue.failedAt(outcome.from, outcome.failures);
      if (outcome.giveUp && again[0]) {
        if (await this.#giveUp([again[0].record], outcome.giveUp, outcome.failures)) {
          this.#commits.add(part, outcome.from + 1);
          again = again.slice(1);
          queue.failedAt(undefined, 0);
        }
      }
      if (queue.owns(part) && !this.#stopping.signal.aborted && again.length > 0) {
        const now = Date.now();
        queue.redeliverFirst(
          again,
          now,
          now + (queue.failures > 0 ? retryDelayMs(queue.failures) : 0),
        );
      }
      queue.release();
    }
  }

  async #runBatch(batch: number, parts: BatchPart[]): Promise<void> {
    const { mapping, invoke, log, emit, maxRetries, retryDelayMs } = this.#options;
    const records = parts.flatMap((part) => part.records.map(({ record }) => record));
    const event = buildKafkaEvent(mapping, this.#options.bootstrapServers, records);
    const redelivery = parts.some((part) => part.queue.failedOffset !== undefined);
    for (let attempt = 1; ; attempt += 1) {
      this.#stats.invocations += 1;
      this.#stats.delivered += records.length;
      if (attempt > 1 || redelivery) this.#stats.retries += 1;
      emit({ type: 'invoke', mapping: mapping.id, batch, attempt, records: records.length });
      let outcome: InvocationOutcome;
      try {
        outcome = { kind: 'returned', response: await invoke(mapping.functionName, event) };
      } catch (thrown) {
        outcome = { kind: 'threw', error: asError(thrown) };
      }
      const verdict = verdictOf(outcome, event, mapping.reportBatchItemFailures);
      if (verdict.kind === 'success') {
        if (verdict.ignoredPartialResponse) {
          log(
            'warn',
            `${mapping.functionKey}: the function answered a partial batch response, but ReportBatchItemFailures is not enabled on this mapping: ignored, the whole batch counts as processed (as on AWS)`,
          );
        }
        this.#finish(parts);
        emit({ type: 'success', mapping: mapping.id, batch, attempt });
        return;
      }
      if (verdict.kind === 'partial') {
        await this.#settlePartial(batch, parts, verdict.redeliverFrom);
        return;
      }
      const { error } = verdict;
      this.#stats.failures += 1;
      emit({ type: 'failure', mapping: mapping.id, batch, attempt, error });
      if (this.#stopping.signal.aborted || parts.some((part) => !part.queue.owns(part))) {
        for (const part of parts) part.queue.release(); // not committed: delivered again later
        return;
      }
      const next = afterFailedAttempt(attempt, maxRetries, retryDelayMs);
      if (next.giveUp && (await this.#giveUp(records, error, attempt))) {
        this.#finish(parts);
        return;
      }
      log(
        'warn',
        `${mapping.functionKey}: invocation ${attempt} with ${describeRecords(records)} failed (${error.message}); retrying in ${next.retryInMs} ms`,
      );
      await delay(next.retryInMs, undefined, { signal: this.#stopping.signal }).catch(
        () => undefined,
      );
      if (this.#stopping.signal.aborted) {
        for (const part of parts) part.queue.release(); // not committed: delivered again later
        return;
      }
    }
  }
}
