import type { Context, MSKEvent, MSKRecord, SelfManagedKafkaEvent } from 'aws-lambda';
import { ValidationError } from '../errors.ts';
import {
  DEFAULT_MAX_ATTEMPTS,
  type DeadLetterDeps,
  type Settlement,
  settleFailedRecord,
} from '../kafka/dead-letters.ts';
import { CORRELATION_ID_HEADER } from '../kafka/producer.ts';
import { loggableError, logger } from '../log.ts';
import type { Services } from '../services.ts';
import { batchItemFailures, type KafkaBatchResponse } from './batch-response.ts';
import { withInvocationLog } from './invocation-log.ts';
import {
  type DecodedRecord,
  decodeKafkaEventWithSource,
  type KafkaEvent,
  type KafkaRecord,
  type RecordPosition,
} from './kafka-event.ts';

export type { KafkaBatchResponse };

export interface RecordFailure {
  position: RecordPosition;
  error: unknown;
  /** Why the record was not dead-lettered (attempts left, Redis or the DLQ out of reach). */
  reason?: string;
}

/**
 * Decides about a record whose handling failed (lib/kafka/dead-letters.ts): 'dead-lettered'
 * (the partition moves on) or 'retry' (report it failed).
 */
export type RecordSettler = (source: MSKRecord, error: unknown) => Promise<Settlement>;

/**
 * Test seams of a consumer. Production handlers pass none: there is no flag to set them from
 * the environment.
 */
export interface ConsumerHooks {
  /**
   * Runs once a record's effects (or, for a whole-batch consumer, the batch's) are written and
   * before the invocation goes on; a throw fails the whole invocation, as a function killed
   * there (timeout, out of memory) would.
   */
  afterWrite?: (positions: RecordPosition[]) => void | Promise<void>;
}

/** What a consumer function is built from; tests build one around their own services. */
export interface ConsumerDeps {
  /** The services of the container (getServices in Lambda), read once per invocation. */
  services: () => Pick<Services, 'kafka' | 'redis'>;
  /** Attempts at a record that keeps failing before it is dead-lettered. */
  maxAttempts?: number;
  hooks?: ConsumerHooks;
}

export interface InOrderOptions {
  /** Without it, a failed record stops its partition (it and what follows are redelivered). */
  deadLetters?: RecordSettler;
  hooks?: ConsumerHooks;
}

const positionOf = (decoded: DecodedRecord): RecordPosition =>
  decoded.ok
    ? {
        topic: decoded.record.topic,
        partition: decoded.record.partition,
        offset: decoded.record.offset,
      }
    : decoded.position;

/**
 * Settles a failed record: true when it is dead-lettered (the partition goes on), false after
 * reporting it to `onFailure` (it must be redelivered).
 */
const settle = async (
  source: MSKRecord,
  position: RecordPosition,
  error: unknown,
  onFailure: (failure: RecordFailure) => void,
  deadLetters: RecordSettler | undefined,
): Promise<boolean> => {
  const settlement = deadLetters ? await deadLetters(source, error) : undefined;
  if (settlement?.outcome === 'dead-lettered') return true;
  onFailure({ position, error, ...(settlement ? { reason: settlement.reason } : {}) });
  return false;
};

/**
 * Handles each record of an `aws:kafka` event: partitions concurrently, the records of one
 * partition strictly in offset order (never `Promise.all` over a partition: that would break
 * per-key ordering). A record that cannot be decoded or whose handler throws is settled by
 * `deadLetters`: dead-lettered, the partition goes on; otherwise (or without `deadLetters`) that
 * partition stops there and the failed offset goes into `batchItemFailures`, so Lambda
 * redelivers it and everything after it, and nothing later is handled twice.
 */
export const handleRecordsInOrder = async <T>(
  event: MSKEvent | SelfManagedKafkaEvent,
  handle: (record: KafkaRecord<T>) => Promise<void>,
  onFailure: (failure: RecordFailure) => void = () => undefined,
  { deadLetters, hooks }: InOrderOptions = {},
): Promise<KafkaBatchResponse> => {
  const partitions = decodeKafkaEventWithSource<T>(event);
  const failed = await Promise.all(
    [...partitions.values()].map(async (records) => {
      for (const { decoded, source } of records) {
        let error: unknown;
        if (decoded.ok) {
          let threw = false;
          try {
            await handle(decoded.record);
          } catch (thrown) {
            threw = true;
            error = thrown;
          }
          if (!threw) {
            // Outside the try: a throw here is the invocation dying, not a failed record.
            await hooks?.afterWrite?.([positionOf(decoded)]);
            continue;
          }
        } else {
          error = decoded.error;
        }
        const position = positionOf(decoded);
        if (!(await settle(source, position, error, onFailure, deadLetters))) return position;
      }
      return undefined;
    }),
  );
  return batchItemFailures(
    failed.filter((position): position is RecordPosition => position !== undefined),
  );
};

/** One partition's share of a batch, for consumers that apply a whole batch at once. */
export interface PartitionSlice<T> {
  /**
   * The Kafka log the offsets count in: the event's cluster ARN (an MSK ARN ends with the
   * cluster's UUID, so a recreated cluster is another log), else its bootstrap servers.
   */
  cluster: string;
  topic: string;
  partition: number;
  /** The offsets the slice covers, from its first record to its last, unusable ones included. */
  firstOffset: number;
  lastOffset: number;
  /** The usable records, in offset order. */
  records: KafkaRecord<T>[];
}

const clusterOf = (event: MSKEvent | SelfManagedKafkaEvent): string =>
  ('eventSourceArn' in event && event.eventSourceArn) || event.bootstrapServers || '';

export interface AtOnceOptions<T = unknown> extends InOrderOptions {
  /**
   * Why a decoded record is unusable (it is dead-lettered alone, before anything is applied),
   * or undefined when it is fine.
   */
  problemOf?: (value: unknown, record: KafkaRecord<T>) => string | undefined;
}

/**
 * For consumers that apply a whole batch in one step (`apply`, which must itself be idempotent
 * per partition offset range): the usable records of every partition go to `apply` at once;
 * then the unusable ones (undecodable, or refused by `problemOf`) are dead-lettered in offset
 * order. When one cannot be dead-lettered its offset is reported failed: Lambda redelivers from
 * it, `apply` recognises the records after it as applied, and it is dead-lettered next time.
 * A throw from `apply` fails the invocation (the whole batch is retried, nothing dead-lettered).
 */
export const handleBatchAtOnce = async <T>(
  event: MSKEvent | SelfManagedKafkaEvent,
  apply: (slices: PartitionSlice<T>[]) => Promise<void>,
  onFailure: (failure: RecordFailure) => void = () => undefined,
  { deadLetters, hooks, problemOf = () => undefined }: AtOnceOptions<T> = {},
): Promise<KafkaBatchResponse> => {
  const cluster = clusterOf(event);
  const slices: PartitionSlice<T>[] = [];
  const unusable: Array<Array<{ source: MSKRecord; position: RecordPosition; error: unknown }>> =
    [];
  for (const entries of decodeKafkaEventWithSource<T>(event).values()) {
    const offsets = entries.map(({ decoded }) => positionOf(decoded).offset).filter((o) => o >= 0);
    const records: KafkaRecord<T>[] = [];
    const poison: (typeof unusable)[number] = [];
    for (const { decoded, source } of entries) {
      const problem = decoded.ok ? problemOf(decoded.record.value, decoded.record) : undefined;
      if (decoded.ok && problem === undefined) records.push(decoded.record);
      else
        poison.push({
          source,
          position: positionOf(decoded),
          error: decoded.ok ? new ValidationError(problem ?? 'unusable value') : decoded.error,
        });
    }
    const [first] = entries;
    if (first && offsets.length > 0) {
      const { topic, partition } = positionOf(first.decoded);
      slices.push({
        cluster,
        topic,
        partition,
        firstOffset: Math.min(...offsets),
        lastOffset: Math.max(...offsets),
        records,
      });
    }
    unusable.push(poison);
  }
  await apply(slices);
  await hooks?.afterWrite?.(slices.flatMap((slice) => slice.records));
  const failed = await Promise.all(
    unusable.map(async (poison) => {
      for (const { source, position, error } of poison) {
        if (!(await settle(source, position, error, onFailure, deadLetters))) return position;
      }
      return undefined;
    }),
  );
  return batchItemFailures(
    failed.filter((position): position is RecordPosition => position !== undefined),
  );
};

/** How many of a batch's distinct correlation ids its log lines name. */
export const MAX_LOGGED_CORRELATION_IDS = 10;

/** What the logs say about a batch, read from the raw event (nothing decoded but one header). */
export interface BatchSummary {
  /** Each partition's offset range, `orders-0:15-20` (`orders-0:15` for one record). */
  ranges: string[];
  records: number;
  /** The first MAX_LOGGED_CORRELATION_IDS distinct `x-correlation-id` headers, in batch order. */
  correlationIds: string[];
  /** Distinct correlation ids beyond those. */
  moreCorrelationIds: number;
  /** The correlation id of the record at a position, when it carries one. */
  correlationIdAt: (position: RecordPosition) => string | undefined;
}

const positionKey = ({ topic, partition, offset }: RecordPosition) =>
  `${topic}-${partition}:${offset}`;

/** The record's `x-correlation-id` header (bytes as UTF-8), when it has a usable one. */
const correlationIdOfRecord = (record: MSKRecord): string | undefined => {
  for (const header of Array.isArray(record.headers) ? record.headers : []) {
    const bytes: unknown = header?.[CORRELATION_ID_HEADER];
    if (
      Array.isArray(bytes) &&
      bytes.length > 0 &&
      bytes.every((byte) => Number.isInteger(byte) && byte >= 0 && byte <= 255)
    ) {
      return Buffer.from(bytes).toString('utf8').slice(0, 128);
    }
  }
  return undefined;
};

/** Offsets, record count and correlation ids of a batch; tolerant of malformed events. */
export const summarizeBatch = (event: KafkaEvent): BatchSummary => {
  const ranges: string[] = [];
  const distinct = new Set<string>();
  const byPosition = new Map<string, string>();
  let records = 0;
  const partitions =
    typeof event?.records === 'object' && event.records !== null ? event.records : {};
  for (const [topicPartition, list] of Object.entries(partitions)) {
    const entries: MSKRecord[] = Array.isArray(list) ? list : [];
    const offsets = entries.map((record) => record?.offset).filter(Number.isInteger);
    records += entries.length;
    if (offsets.length > 0) {
      const first = Math.min(...offsets);
      const last = Math.max(...offsets);
      ranges.push(`${topicPartition}:${first === last ? first : `${first}-${last}`}`);
    } else {
      ranges.push(topicPartition);
    }
    for (const record of entries) {
      const id = record ? correlationIdOfRecord(record) : undefined;
      if (id === undefined) continue;
      distinct.add(id);
      byPosition.set(positionKey(record), id);
    }
  }
  const all = [...distinct];
  return {
    ranges,
    records,
    correlationIds: all.slice(0, MAX_LOGGED_CORRELATION_IDS),
    moreCorrelationIds: Math.max(0, all.length - MAX_LOGGED_CORRELATION_IDS),
    correlationIdAt: (position) => byPosition.get(positionKey(position)),
  };
};

/**
 * Records the batch got through: all of a partition without a reported failure, and those
 * before the failed offset of one with (Lambda redelivers the failed record and the rest).
 */
const countProcessed = (event: KafkaEvent, response: KafkaBatchResponse): number => {
  const failedAt = new Map<string, number>();
  for (const { itemIdentifier } of response.batchItemFailures) {
    const known = failedAt.get(itemIdentifier.partition);
    failedAt.set(
      itemIdentifier.partition,
      Math.min(known ?? itemIdentifier.offset, itemIdentifier.offset),
    );
  }
  let processed = 0;
  for (const [topicPartition, list] of Object.entries(event?.records ?? {})) {
    const failed = failedAt.get(topicPartition);
    for (const record of Array.isArray(list) ? list : []) {
      if (failed === undefined || (Number.isInteger(record?.offset) && record.offset < failed)) {
        processed += 1;
      }
    }
  }
  return processed;
};

/** What a consumer handler gets besides its event. */
export interface ConsumerInvocation {
  /** The function's name: in log lines, dead letters and attempt counts. */
  name: string;
  /**
   * Logs one failed record as an error line: the function, the record (`orders-0:17`), its
   * correlation id, the batch's correlation ids, why it was not dead-lettered and the error.
   * Pass it as `onFailure`.
   */
  recordFailed: (failure: RecordFailure) => void;
  /**
   * The dead-lettering of this function over `deps` (lib/kafka/dead-letters.ts), logging each
   * dead-lettered record as an error line. Pass it as `deadLetters`.
   */
  deadLetters: (deps: DeadLetterDeps, maxAttempts?: number) => RecordSettler;
}

export type KafkaHandler = (event: KafkaEvent, context?: Context) => Promise<KafkaBatchResponse>;

/**
 * A Kafka (MSK or self-managed) consumer handler around `handle`. Each invocation writes one
 * `invocation` line: the function, each partition's offset range, the batch's correlation ids
 * (from the records' `x-correlation-id` headers, so a request can be followed from its HTTP
 * line), records / processed / failed (and dead_lettered) counts, duration and cold start; info
 * when every record went through, warn with failed or dead-lettered records, error when the
 * handler threw (the whole batch is retried). No record value is logged.
 */
export const kafkaHandler =
  (
    name: string,
    handle: (event: KafkaEvent, invocation: ConsumerInvocation) => Promise<KafkaBatchResponse>,
  ): KafkaHandler =>
  (event, context) => {
    const batch = summarizeBatch(event);
    const correlation = {
      correlation_ids: batch.correlationIds,
      ...(batch.moreCorrelationIds > 0 ? { correlation_ids_more: batch.moreCorrelationIds } : {}),
    };
    const recordFields = (position: RecordPosition) => ({
      function: name,
      record: `${position.topic}-${position.partition}:${position.offset}`,
      correlation_id: batch.correlationIdAt(position),
      ...correlation,
    });
    const recordFailed = ({ position, error, reason }: RecordFailure) =>
      logger.error(
        {
          message: 'record failed',
          ...recordFields(position),
          ...(reason === undefined ? {} : { not_dead_lettered_because: reason }),
        },
        { error: loggableError(error) },
      );
    let deadLettered = 0;
    const deadLetters =
      (deps: DeadLetterDeps, maxAttempts = DEFAULT_MAX_ATTEMPTS): RecordSettler =>
      async (source, error) => {
        const settlement = await settleFailedRecord(
          deps,
          { consumer: name, maxAttempts },
          source,
          error,
        );
        if (settlement.outcome === 'dead-lettered') {
          deadLettered += 1;
          logger.error(
            {
              message: 'record dead-lettered',
              ...recordFields(source),
              dead_letter_topic: settlement.topic,
              attempts: settlement.attempts,
            },
            { error: loggableError(error) },
          );
        }
        return settlement;
      };
    return withInvocationLog(
      { context, keys: { function: name, ...correlation }, fields: { batch: batch.ranges } },
      () => handle(event, { name, recordFailed, deadLetters }),
      (response) => {
        const failed = response.batchItemFailures.length;
        return {
          level: failed > 0 || deadLettered > 0 ? 'warn' : 'info',
          fields: {
            records: batch.records,
            processed: countProcessed(event, response),
            failed,
            ...(deadLettered > 0 ? { dead_lettered: deadLettered } : {}),
          },
        };
      },
    );
  };
