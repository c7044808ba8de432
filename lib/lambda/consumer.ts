import type { Context, MSKEvent, MSKRecord, SelfManagedKafkaEvent } from 'aws-lambda';
import { ValidationError } from '../errors.ts';
import { CORRELATION_ID_HEADER } from '../kafka/producer.ts';
import { loggableError, logger } from '../log.ts';
import { withInvocationLog } from './invocation-log.ts';
import {
  batchItemFailures,
  type DecodedRecord,
  decodeKafkaEvent,
  type KafkaEvent,
  type KafkaRecord,
  type RecordPosition,
} from './kafka-event.ts';

export type KafkaBatchResponse = ReturnType<typeof batchItemFailures>;

export interface RecordFailure {
  position: RecordPosition;
  error: unknown;
}

/**
 * Handles each record of an `aws:kafka` event: partitions concurrently, the records of one
 * partition strictly in offset order (never `Promise.all` over a partition: that would break
 * per-key ordering). At a partition's first failure (undecodable record or a throwing handler)
 * that partition stops; the failed offset goes into `batchItemFailures`, so Lambda redelivers
 * it and everything after it, and nothing later is handled twice.
 */
export const handleRecordsInOrder = async <T>(
  event: MSKEvent | SelfManagedKafkaEvent,
  handle: (record: KafkaRecord<T>) => Promise<void>,
  onFailure: (failure: RecordFailure) => void = () => undefined,
): Promise<KafkaBatchResponse> => {
  const partitions = decodeKafkaEvent<T>(event);
  const failed = await Promise.all(
    [...partitions.values()].map(async (records) => {
      for (const decoded of records) {
        if (!decoded.ok) {
          onFailure({ position: decoded.position, error: decoded.error });
          return decoded.position;
        }
        try {
          await handle(decoded.record);
        } catch (error) {
          onFailure({ position: decoded.record, error });
          return positionOf(decoded);
        }
      }
      return undefined;
    }),
  );
  return batchItemFailures(
    failed.filter((position): position is RecordPosition => position !== undefined),
  );
};

const positionOf = (decoded: DecodedRecord): RecordPosition =>
  decoded.ok
    ? {
        topic: decoded.record.topic,
        partition: decoded.record.partition,
        offset: decoded.record.offset,
      }
    : decoded.position;

/**
 * For handlers that apply a whole batch at once: each partition's records up to (not including)
 * its first undecodable record, and those first undecodable positions. Applying the prefixes
 * and reporting the positions keeps every record applied exactly once per delivery.
 */
export const decodedPrefixes = <T>(
  event: MSKEvent | SelfManagedKafkaEvent,
  /** Why a decoded value is unusable, or undefined when it is fine. */
  problemOf: (value: unknown) => string | undefined = () => undefined,
): { records: KafkaRecord<T>[]; failures: RecordFailure[] } => {
  const records: KafkaRecord<T>[] = [];
  const failures: RecordFailure[] = [];
  for (const partition of decodeKafkaEvent<T>(event).values()) {
    for (const decoded of partition) {
      const problem = decoded.ok ? problemOf(decoded.record.value) : undefined;
      if (!decoded.ok || problem !== undefined) {
        failures.push({
          position: positionOf(decoded),
          error: decoded.ok ? new ValidationError(problem ?? 'unusable value') : decoded.error,
        });
        break;
      }
      records.push(decoded.record);
    }
  }
  return { records, failures };
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
  const failedAt = new Map(
    response.batchItemFailures.map(({ itemIdentifier }) => [
      itemIdentifier['topic-partition'],
      itemIdentifier.offset,
    ]),
  );
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
  /**
   * Logs one failed record as an error line: the function, the record (`orders-0:17`), its
   * correlation id, the batch's correlation ids and the error. Pass it as `onFailure`.
   */
  recordFailed: (failure: RecordFailure) => void;
}

export type KafkaHandler = (event: KafkaEvent, context?: Context) => Promise<KafkaBatchResponse>;

/**
 * A Kafka (MSK or self-managed) consumer handler around `handle`. Each invocation writes one
 * `invocation` line: the function, each partition's offset range, the batch's correlation ids
 * (from the records' `x-correlation-id` headers, so a request can be followed from its HTTP
 * line), records / processed / failed counts, duration and cold start; info when every record
 * went through, warn with failed records, error when the handler threw (the whole batch is
 * retried). No record value is logged.
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
    const recordFailed = ({ position, error }: RecordFailure) =>
      logger.error(
        {
          message: 'record failed',
          function: name,
          record: `${position.topic}-${position.partition}:${position.offset}`,
          correlation_id: batch.correlationIdAt(position),
          ...correlation,
        },
        { error: loggableError(error) },
      );
    return withInvocationLog(
      { context, keys: { function: name, ...correlation }, fields: { batch: batch.ranges } },
      () => handle(event, { recordFailed }),
      (response) => {
        const failed = response.batchItemFailures.length;
        return {
          level: failed > 0 ? 'warn' : 'info',
          fields: { records: batch.records, processed: countProcessed(event, response), failed },
        };
      },
    );
  };
