import type { KafkaEventPayload, KafkaEventRecord } from '../../lib/lambda/kafka-event-builder.ts';
import type { PartitionOffset } from './commit-queue.ts';

/** Shared shapes of the MSK bridge: mappings, invokers, logging (the event: lib/lambda/kafka-event-builder.ts). */

export type StartingPosition = 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';

/** One event-source mapping: one topic, one consumer group, one function. */
export interface KafkaMapping {
  /** `<functionKey>#<index of the event>`, unique within a service. */
  id: string;
  /** The key under `functions:` in serverless.yml (`processOrders`). */
  functionKey: string;
  /** The deployed name, which serverless-offline's Invoke API expects (`narad-services-dev-processOrders`). */
  functionName: string;
  /** `aws:kafka` for an `msk` event, `SelfManagedKafka` for a `kafka` event. */
  eventSource: 'aws:kafka' | 'SelfManagedKafka';
  /** The MSK cluster ARN (msk events only); becomes the event's `eventSourceArn`. */
  eventSourceArn?: string;
  topic: string;
  consumerGroupId: string;
  /** Most records per invocation (AWS: 1..10000, default 100). */
  batchSize: number;
  /** Longest time spent gathering records before invoking with fewer than `batchSize` (AWS default 500 ms). */
  batchingWindowMs: number;
  /** Where a NEW consumer group starts; an existing group resumes from its committed offsets. */
  startingPosition: StartingPosition;
  /** Epoch milliseconds, for AT_TIMESTAMP. */
  startingPositionTimestamp?: number;
  /**
   * `FunctionResponseTypes: [ReportBatchItemFailures]` on the mapping. Without it Lambda ignores
   * a `batchItemFailures` response and treats the invocation as a full success.
   */
  reportBatchItemFailures: boolean;
  /**
   * MaximumRetryAttempts: retries of a failing batch (the first invocation not counted) before
   * its records are given up on. Undefined: forever (Lambda's -1).
   */
  maxRetryAttempts?: number;
  /** The topic of a `kafka://<topic>` on-failure destination: where given-up records go. */
  onFailureTopic?: string;
  enabled: boolean;
  /** What the bridge cannot reproduce for this mapping, for the operator (printed at start). */
  notes?: string[];
}

/**
 * Invokes a function synchronously and resolves with its (JSON) result.
 * @throws FunctionInvocationError when the function failed, FunctionNotFoundError, InvokeTransportError.
 */
export type Invoke = (functionName: string, event: KafkaEventPayload) => Promise<unknown>;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Log = (level: LogLevel, message: string) => void;

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
  /** Records read from the source. */
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

/** The parts of a mapping the engine plays. */
export type PlayedMapping = Pick<
  KafkaMapping,
  | 'id'
  | 'functionKey'
  | 'functionName'
  | 'eventSource'
  | 'eventSourceArn'
  | 'topic'
  | 'batchSize'
  | 'batchingWindowMs'
  | 'reportBatchItemFailures'
>;

/**
 * Called when records failed more than `maxRetries` times in a row. Resolving means "handled"
 * (the engine commits past them and moves on); throwing means "keep them" (retried again).
 */
export type OnRetriesExhausted = (
  records: KafkaEventRecord[],
  error: Error,
  context: { mapping: PlayedMapping; attempts: number },
) => Promise<void> | void;

/** What the mapping engine (mapping-engine.ts) plays a mapping with. */
export interface MappingEngineOptions {
  mapping: PlayedMapping;
  invoke: Invoke;
  /** The event's `bootstrapServers`. */
  bootstrapServers: string;
  maxRetries: number;
  /** Milliseconds to wait before the n-th retry (n from 1): planner.ts retryDelayMs. */
  retryDelayMs: (retry: number) => number;
  onRetriesExhausted: OnRetriesExhausted;
  /** Stores the offsets (the next to read) of partitions whose records are done. */
  commit: (offsets: PartitionOffset[]) => Promise<void>;
  /**
   * Back-pressure: `pause` when a partition has a batch's worth queued (true when the source
   * did pause), `resume` once it has room again. Without it the source feeds as it likes.
   */
  flow?: { pause: (partition: number) => boolean; resume: (partition: number) => void };
  log: Log;
  emit: (event: BridgeEvent) => void;
}
