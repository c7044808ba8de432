import { deadLetterTopicOf } from '../../lib/kafka/dead-letters.ts';
import { toEventRecord } from '../../lib/lambda/kafka-event-builder.ts';
import { deadLetterTo } from '../msk-bridge/dead-letters.ts';
import { consoleLog } from '../msk-bridge/log.ts';
import { MappingEngine } from '../msk-bridge/mapping-engine.ts';
import { retryDelayMs as backoff } from '../msk-bridge/planner.ts';
import type { Invoke, Log, PlayedMapping } from '../msk-bridge/types.ts';
import type { EmbeddedKafkaLog } from './kafka-log.ts';
import type { EmbeddedMapping } from './settings.ts';

export interface EmbeddedDelivery {
  /** Resolves once every mapping has handled everything in the log so far. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export const EMBEDDED_BOOTSTRAP = 'embedded:9092';

/** An msk event as the mapping engine plays it: no batching window (the log is in memory). */
const playedMapping = (mapping: EmbeddedMapping): PlayedMapping => ({
  id: `${mapping.functionName}#${mapping.topic}`,
  functionKey: mapping.functionName,
  functionName: mapping.functionName,
  eventSource: 'aws:kafka',
  ...(mapping.eventSourceArn === undefined ? {} : { eventSourceArn: mapping.eventSourceArn }),
  topic: mapping.topic,
  batchSize: mapping.batchSize,
  batchingWindowMs: 0,
  reportBatchItemFailures: mapping.reportBatchItemFailures,
});

/**
 * Delivers the embedded log to the mapped functions with the mapping engine the MSK bridge uses
 * (local/msk-bridge/mapping-engine.ts): `aws:kafka` events of up to `batchSize` records, each
 * partition in offset order and one invocation at a time, a partial-batch response resuming
 * from the failed offset, a failing batch retried with the bridge's backoff and, after
 * `maxRetries`, its records written to `<topic>.dlq` in the same log, so the partition moves
 * on and nothing is silently lost. Every run reads each topic from its first record.
 */
export const startEmbeddedDelivery = ({
  log,
  mappings,
  invoke,
  retryDelayMs = backoff,
  logTo = consoleLog('info', 'embedded kafka'),
}: {
  log: EmbeddedKafkaLog;
  mappings: readonly EmbeddedMapping[];
  invoke: Invoke;
  /** Wait before retry number `retry` (1, 2, ...). */
  retryDelayMs?: (retry: number) => number;
  logTo?: Log;
}): EmbeddedDelivery => {
  const writeToLog = async (topic: string, messages: Parameters<EmbeddedKafkaLog['append']>[1]) => {
    log.append(topic, messages);
  };
  const played = mappings.map((mapping) => {
    const engine = new MappingEngine({
      mapping: playedMapping(mapping),
      invoke,
      bootstrapServers: EMBEDDED_BOOTSTRAP,
      maxRetries: mapping.maxRetries,
      retryDelayMs,
      onRetriesExhausted: deadLetterTo(writeToLog, deadLetterTopicOf(mapping.topic), logTo),
      // The log keeps no consumer groups: what the engine has handled is simply behind it.
      commit: async () => undefined,
      log: logTo,
      emit: () => undefined,
    });
    /** Per partition, the next offset to hand to the engine. */
    const read: number[] = [];
    const feed = () => {
      log.endOffsets(mapping.topic).forEach((end, partition) => {
        const from = read[partition] ?? 0;
        if (end <= from) return;
        const records = log.read(mapping.topic, partition, from, end - from);
        read[partition] = end;
        engine.push(
          partition,
          records.map((record) => toEventRecord(mapping.topic, partition, record)),
          end - 1,
        );
      });
    };
    return { topic: mapping.topic, engine, feed };
  });

  const unsubscribe = log.onAppend((topic) => {
    for (const { topic: mapped, feed } of played) if (mapped === topic) feed();
  });

  return {
    async idle() {
      await Promise.all(played.map(({ engine }) => engine.idle()));
    },
    async stop() {
      unsubscribe();
      await Promise.all(played.map(({ engine }) => engine.stop()));
    },
  };
};
