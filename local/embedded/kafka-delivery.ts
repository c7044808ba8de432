import type { EmbeddedMapping } from '../../lib/embedded-parts.ts';
import { deadLetterOf, deadLetterTopicOf } from '../../lib/kafka/dead-letters.ts';
import { invalidResponseMessage, readKafkaBatchResponse } from '../../lib/lambda/batch-response.ts';
import {
  buildKafkaEvent,
  type KafkaEventPayload,
  toEventRecord,
  topicPartitionOf,
} from '../../lib/lambda/kafka-event-builder.ts';
import { loggableError, logger } from '../../lib/log.ts';
import type { EmbeddedKafkaLog } from './kafka-log.ts';

export type Invoke = (functionName: string, event: KafkaEventPayload) => Promise<unknown>;

export interface EmbeddedDelivery {
  /** Resolves once every mapping has handled everything in the log so far. */
  idle(): Promise<void>;
  stop(): void;
}

export const EMBEDDED_BOOTSTRAP = 'embedded:9092';

/** One mapping's position in one partition: its cursor, and the delivery running there. */
const cursorKeyOf = (mapping: EmbeddedMapping, partition: number) =>
  `${mapping.functionName}|${mapping.topic}|${partition}`;

const backoff = (attempt: number) => Math.min(100 * 2 ** attempt, 5_000);

/**
 * Delivers the embedded log to the mapped functions the way an MSK event-source mapping does:
 * `aws:kafka` events of up to `batchSize` records, each partition in offset order and one
 * batch at a time, partitions side by side; a partial-batch response resumes from the failed
 * offset; a failing batch is retried with backoff and, after `maxRetries`, its records go to
 * `<topic>.dlq` (in the same log) so the partition moves on and nothing is silently lost.
 */
export const startEmbeddedDelivery = ({
  log,
  mappings,
  invoke,
  retryDelayMs = backoff,
}: {
  log: EmbeddedKafkaLog;
  mappings: readonly EmbeddedMapping[];
  invoke: Invoke;
  /** Wait before retry number `attempt` (1, 2, ...). */
  retryDelayMs?: (attempt: number) => number;
}): EmbeddedDelivery => {
  const cursors = new Map<string, number>();
  const running = new Map<string, Promise<void>>();
  let stopped = false;

  const deliverPartition = async (mapping: EmbeddedMapping, partition: number) => {
    const cursorKey = cursorKeyOf(mapping, partition);
    let attempt = 0;
    for (;;) {
      if (stopped) return;
      const from = cursors.get(cursorKey) ?? 0;
      const records = log.read(mapping.topic, partition, from, mapping.batchSize);
      if (records.length === 0) return;
      const eventRecords = records.map((record) => toEventRecord(mapping.topic, partition, record));
      const event = buildKafkaEvent(
        { eventSource: 'aws:kafka', eventSourceArn: mapping.eventSourceArn },
        EMBEDDED_BOOTSTRAP,
        eventRecords,
      );
      const topicPartition = topicPartitionOf({ topic: mapping.topic, partition });
      let next = from + records.length;
      let failure: string | undefined;
      try {
        const result = await invoke(mapping.functionName, event);
        const decision = mapping.reportBatchItemFailures
          ? readKafkaBatchResponse(result, event)
          : ({ kind: 'success' } as const);
        if (decision.kind === 'partial') {
          next = decision.redeliverFrom.get(topicPartition) ?? next;
          failure = `${mapping.functionName} reported ${topicPartition} offset ${next} as failed`;
        } else if (decision.kind === 'invalid') {
          next = from;
          failure = `${mapping.functionName} returned an ${invalidResponseMessage(decision.reason)}`;
        }
      } catch (error) {
        next = from;
        failure = error instanceof Error ? error.message : String(error);
      }
      if (next > from) attempt = 0;
      cursors.set(cursorKey, next);
      if (failure === undefined) continue;
      attempt += 1;
      if (attempt > mapping.maxRetries) {
        const stuck = log
          .read(mapping.topic, partition, next, mapping.batchSize)
          .map((record) => toEventRecord(mapping.topic, partition, record));
        const deadLetterTopic = deadLetterTopicOf(mapping.topic);
        log.append(
          deadLetterTopic,
          stuck.map((record) => ({
            key: record.key === undefined ? null : Buffer.from(record.key, 'base64'),
            value: JSON.stringify(
              deadLetterOf(record, {
                error: new Error(failure),
                attempts: attempt,
                consumer: mapping.functionName,
              }),
            ),
          })),
        );
        logger.error('embedded kafka: retries exhausted, records moved to the dead-letter topic', {
          function: mapping.functionName,
          topicPartition,
          offsets: `${next}-${next + stuck.length - 1}`,
          deadLetterTopic,
          error: failure,
        });
        cursors.set(cursorKey, next + stuck.length);
        attempt = 0;
        continue;
      }
      logger.warn('embedded kafka: batch failed, retrying', {
        function: mapping.functionName,
        topicPartition,
        offset: next,
        attempt,
        maxRetries: mapping.maxRetries,
        error: failure,
      });
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt)));
    }
  };

  const kick = (mapping: EmbeddedMapping, partition: number) => {
    const key = cursorKeyOf(mapping, partition);
    if (running.has(key)) return;
    const run = deliverPartition(mapping, partition)
      .catch((error: unknown) =>
        logger.error('embedded kafka: delivery stopped', {
          function: mapping.functionName,
          error: loggableError(error),
        }),
      )
      .finally(() => {
        running.delete(key);
        // Records appended while the last invocation was in flight start a new round.
        const end = log.endOffsets(mapping.topic)[partition] ?? 0;
        if (!stopped && (cursors.get(key) ?? 0) < end) kick(mapping, partition);
      });
    running.set(key, run);
  };

  const unsubscribe = log.onAppend((topic) => {
    for (const mapping of mappings) {
      if (mapping.topic !== topic) continue;
      for (let partition = 0; partition < log.partitions; partition++) kick(mapping, partition);
    }
  });

  return {
    async idle() {
      while (running.size > 0) await Promise.all(running.values());
    },
    stop() {
      stopped = true;
      unsubscribe();
    },
  };
};
