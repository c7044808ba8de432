import type { KafkaEventPayload } from '../../lib/lambda/kafka-event-builder.ts';

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
