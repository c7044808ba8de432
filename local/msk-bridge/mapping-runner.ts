import type { Consumer, Kafka, Batch as KafkaBatch } from 'kafkajs';
import { toEventRecord } from '../../lib/lambda/kafka-event-builder.ts';
import { MappingEngine } from './mapping-engine.ts';
import type {
  BridgeEvent,
  Invoke,
  KafkaMapping,
  Log,
  MappingStats,
  OnRetriesExhausted,
} from './types.ts';

/**
 * One event-source mapping played against a real broker: the mapping's consumer group (one
 * kafkajs consumer) feeds the mapping engine, which invokes the function and commits through
 * the group. Fetching pauses per partition while a batch's worth is queued.
 */

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

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

export const startMappingRunner = async (options: MappingRunnerOptions): Promise<MappingRunner> => {
  const { kafka, mapping, log } = options;
  const { topic } = mapping;
  const consumer: Consumer = kafka.consumer({
    groupId: mapping.consumerGroupId,
    maxWaitTimeInMs: options.fetchMaxWaitMs,
    allowAutoTopicCreation: false,
  });

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
        `${mapping.functionKey}: could not ${what} ${topic}-${partition}: ${messageOf(error)}`,
      );
      return false;
    }
  };

  const engine = new MappingEngine({
    mapping,
    invoke: options.invoke,
    bootstrapServers: options.bootstrapServers,
    maxRetries: options.maxRetries,
    retryDelayMs: options.retryDelayMs,
    onRetriesExhausted: options.onRetriesExhausted,
    commit: (offsets) =>
      consumer.commitOffsets(
        offsets.map(({ partition, offset }) => ({ topic, partition, offset: String(offset) })),
      ),
    flow: {
      pause: (partition) => tryConsumer('pause', partition),
      resume: (partition) => void tryConsumer('resume', partition),
    },
    log,
    emit: options.emit,
  });

  const eachBatch = async ({
    batch,
    resolveOffset,
  }: {
    batch: KafkaBatch;
    resolveOffset: (offset: string) => void;
  }) => {
    if (engine.stopped) return;
    // Fetch on from here; nothing is committed until the function has succeeded.
    resolveOffset(batch.lastOffset());
    engine.push(
      batch.partition,
      batch.messages.map((message) => toEventRecord(topic, batch.partition, message)),
      Number(batch.lastOffset()),
    );
  };

  let ready: () => void = () => undefined;
  const joined = new Promise<void>((resolve) => {
    ready = resolve;
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const assigned = payload.memberAssignment[topic] ?? [];
    // A (re)join: kafkajs fetches again from the committed offsets, so queued records and
    // in-flight work of the old assignment are dropped (they were not committed).
    consumer.resume([{ topic, partitions: engine.partitions() }]);
    engine.reassign();
    options.emit({
      type: 'ready',
      mapping: mapping.id,
      partitions: [...assigned].sort((a, b) => a - b),
    });
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

  return {
    stats: () => engine.stats(),
    stop: async () => {
      await engine.stop();
      await consumer.disconnect();
    },
  };
};
