import '../../lib/kafka/request-queue-fix.ts';
import { Kafka, logLevel, type Producer, type SASLOptions } from 'kafkajs';
import { unrefSocketFactory } from '../../lib/kafka/sockets.ts';
import { deadLetterTo } from './dead-letters.ts';
import { MappingConfigError } from './errors.ts';
import { consoleLog, describeRecords, kafkaLogCreator } from './log.ts';
import { type MappingRunner, startMappingRunner } from './mapping-runner.ts';
import { DEFAULT_BACKOFF, retryDelayMs } from './planner.ts';
import { ensureTopics, startNewGroupAtTimestamp } from './topics.ts';
import type {
  BridgeEvent,
  Invoke,
  KafkaMapping,
  Log,
  MappingStats,
  OnRetriesExhausted,
} from './types.ts';

export interface MskBridgeOptions {
  /** `host:port`, a comma-separated list of them, or an array. */
  brokers: string | readonly string[];
  mappings: readonly KafkaMapping[];
  invoke: Invoke;
  log?: Log;
  sasl?: SASLOptions;
  ssl?: boolean;
  clientId?: string;
  /**
   * Retries of a failed batch before `onRetriesExhausted` (Lambda's MaximumRetryAttempts; the
   * initial invocation does not count), for every mapping. Default: each mapping's own
   * `maxRetryAttempts` (from serverless.yml), unbounded where it has none.
   */
  maxRetries?: number;
  /** Exponential backoff between retries: initialMs, doubled each time, at most maxMs. */
  retryBackoff?: { initialMs?: number; maxMs?: number };
  /**
   * For every mapping. Default: a mapping with an on-failure topic (`kafka://` destination)
   * writes the records there; one without logs them at error level and commits past them
   * (what Lambda does without a destination).
   */
  onRetriesExhausted?: OnRetriesExhausted;
  onEvent?: (event: BridgeEvent) => void;
  /** Partitions of the topics the bridge has to create (the broker's num.partitions: 3). */
  topicPartitions?: number;
  /** How long a fetch may wait at the broker when there is nothing new, and how long kafkajs idles while every partition is paused (default 100 ms). */
  fetchMaxWaitMs?: number;
}

export interface MskBridge {
  /** The mappings running (the enabled ones). */
  mappings: readonly KafkaMapping[];
  /** Counters per mapping id. */
  stats: () => Record<string, MappingStats>;
  /** Adds an observer; returns the function that removes it. */
  on: (listener: (event: BridgeEvent) => void) => () => void;
  /** Stops every mapping: in-flight invocations are awaited and committed, consumers leave their groups. */
  stop: () => Promise<void>;
}

const DEFAULTS = {
  clientId: 'narad-msk-bridge',
  maxRetries: Number.POSITIVE_INFINITY,
  topicPartitions: 3,
  fetchMaxWaitMs: 100,
};

const brokerList = (brokers: string | readonly string[]): string[] =>
  (typeof brokers === 'string' ? brokers.split(',') : [...brokers])
    .map((broker) => broker.trim())
    .filter(Boolean);

const defaultOnRetriesExhausted =
  (log: Log): OnRetriesExhausted =>
  (records, error, { mapping, attempts }) => {
    log(
      'error',
      `${mapping.functionKey}: giving up on ${describeRecords(records)} after ${attempts} attempts (${error.message}); committing past them`,
    );
  };

/**
 * Checks the mappings once, up front.
 * @throws MappingConfigError when two mappings share a consumer group (each mapping needs its
 * own, or they split the partitions between them) or a setting is out of range.
 */
const validate = (mappings: readonly KafkaMapping[], maxRetries: number | undefined) => {
  if (maxRetries !== undefined && !(maxRetries >= 0)) {
    throw new MappingConfigError(`maxRetries must be 0 or more, got ${maxRetries}`, '-');
  }
  const groups = new Map<string, string>();
  for (const mapping of mappings) {
    const other = groups.get(mapping.consumerGroupId);
    if (other) {
      throw new MappingConfigError(
        `${mapping.id} and ${other} share the consumer group ${mapping.consumerGroupId}; each mapping needs its own`,
        mapping.functionKey,
      );
    }
    groups.set(mapping.consumerGroupId, mapping.id);
    if (!(mapping.batchSize >= 1) || !(mapping.batchingWindowMs >= 0)) {
      throw new MappingConfigError(
        `${mapping.id}: batchSize must be 1 or more and the batching window 0 or more`,
        mapping.functionKey,
      );
    }
  }
};

/**
 * Plays the event-source mappings against a real Kafka: one consumer group per mapping, batches
 * as Lambda forms them, the function invoked through `invoke`, offsets committed after success.
 * Resolves once every consumer has joined its group. Topics that do not exist are created.
 */
export const startMskBridge = async (options: MskBridgeOptions): Promise<MskBridge> => {
  const log = options.log ?? consoleLog();
  const mappings = options.mappings.filter((mapping) => mapping.enabled);
  validate(mappings, options.maxRetries);
  const brokers = brokerList(options.brokers);
  const backoff = {
    initialMs: options.retryBackoff?.initialMs ?? DEFAULT_BACKOFF.initialMs,
    maxMs: options.retryBackoff?.maxMs ?? DEFAULT_BACKOFF.maxMs,
  };
  const listeners = new Set<(event: BridgeEvent) => void>(options.onEvent ? [options.onEvent] : []);
  const emit = (event: BridgeEvent) => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        log('warn', `an event listener threw: ${String(error)}`);
      }
    }
  };

  const kafka = new Kafka({
    clientId: options.clientId ?? DEFAULTS.clientId,
    brokers,
    ...(options.sasl ? { sasl: options.sasl } : {}),
    ...(options.ssl ? { ssl: true } : {}),
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(log),
    // A consumer that kafkajs restarts after a crash (a broker restart) can still be
    // reconnecting when stop() disconnects it; unref'd sockets let the process exit anyway.
    socketFactory: unrefSocketFactory,
  });

  const admin = kafka.admin();
  await admin.connect();
  let partitionCounts: Map<string, number>;
  try {
    partitionCounts = await ensureTopics(
      admin,
      mappings.flatMap(({ topic, onFailureTopic }) => [
        topic,
        ...(onFailureTopic === undefined ? [] : [onFailureTopic]),
      ]),
      options.topicPartitions ?? DEFAULTS.topicPartitions,
    );
    for (const mapping of mappings) {
      if (mapping.startingPosition === 'AT_TIMESTAMP')
        await startNewGroupAtTimestamp(admin, mapping);
    }
  } finally {
    await admin.disconnect();
  }

  // One producer for every on-failure topic, connected the first time a mapping gives up.
  let producer: Promise<Producer> | undefined;
  const deadLetterProducer = () => {
    producer ??= (async () => {
      const created = kafka.producer({ idempotent: true });
      await created.connect();
      return created;
    })();
    producer.catch(() => {
      producer = undefined;
    });
    return producer;
  };
  const onRetriesExhaustedFor = (mapping: KafkaMapping): OnRetriesExhausted =>
    options.onRetriesExhausted ??
    (mapping.onFailureTopic === undefined
      ? defaultOnRetriesExhausted(log)
      : deadLetterTo(
          async (topic, messages) => {
            await (await deadLetterProducer()).send({ topic, acks: -1, messages });
          },
          mapping.onFailureTopic,
          log,
        ));

  const started = await Promise.allSettled(
    mappings.map((mapping) =>
      startMappingRunner({
        kafka,
        mapping,
        invoke: options.invoke,
        bootstrapServers: brokers.join(','),
        maxRetries: options.maxRetries ?? mapping.maxRetryAttempts ?? DEFAULTS.maxRetries,
        retryDelayMs: (retry) => retryDelayMs(retry, backoff),
        onRetriesExhausted: onRetriesExhaustedFor(mapping),
        log,
        emit,
        concurrency: Math.max(1, partitionCounts.get(mapping.topic) ?? 1),
        fetchMaxWaitMs: options.fetchMaxWaitMs ?? DEFAULTS.fetchMaxWaitMs,
      }).then((runner) => [mapping.id, runner] as const),
    ),
  );
  const runners = new Map<string, MappingRunner>(
    started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : [])),
  );
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await Promise.allSettled([...runners.values()].map((runner) => runner.stop()));
    throw failed.reason;
  }

  let stopped: Promise<void> | undefined;
  return {
    mappings,
    stats: () => Object.fromEntries([...runners].map(([id, runner]) => [id, runner.stats()])),
    on: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: () => {
      stopped ??= Promise.allSettled([...runners.values()].map((runner) => runner.stop())).then(
        async (results) => {
          // After the runners: a mapping giving up during its last batch still has the producer.
          await producer?.then((p) => p.disconnect()).catch(() => undefined);
          const failure = results.find((result) => result.status === 'rejected');
          if (failure) throw failure.reason;
        },
      );
      return stopped;
    },
  };
};
