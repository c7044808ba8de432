import type { MSKRecord } from 'aws-lambda';
import { CORRELATION_ID_HEADER } from '../../kafka/record-headers.ts';
import type { KafkaBatchResponse } from '../batch-response.ts';
import { isByteArray, type KafkaEvent, type RecordPosition } from '../kafka-event.ts';

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

/** Short and every byte below 0x80: the bytes are their characters' codes. */
const isAscii = (bytes: number[]): boolean => {
  if (bytes.length > 1_024) return false;
  for (const byte of bytes) if (byte > 127) return false;
  return true;
};

/** The record's `x-correlation-id` header (bytes as UTF-8), when it has a usable one. */
const correlationIdOfRecord = (record: MSKRecord): string | undefined => {
  for (const header of Array.isArray(record.headers) ? record.headers : []) {
    const bytes: unknown = header?.[CORRELATION_ID_HEADER];
    if (isByteArray(bytes) && bytes.length > 0) {
      // Decoded leniently (a log line, not a decision): invalid UTF-8 becomes U+FFFD.
      return (
        isAscii(bytes) ? String.fromCharCode(...bytes) : Buffer.from(bytes).toString('utf8')
      ).slice(0, 128);
    }
  }
  return undefined;
};

/** Offsets, record count and correlation ids of a batch; tolerant of malformed events. */
export const summarizeBatch = (event: KafkaEvent): BatchSummary => {
  const ranges: string[] = [];
  const distinct = new Set<string>();
  // Asked only for a failed record: the lookup is built on first use, not for every batch.
  const withIds: Array<[MSKRecord, string]> = [];
  let byPosition: Map<string, string> | undefined;
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
      withIds.push([record, id]);
    }
  }
  const all = [...distinct];
  return {
    ranges,
    records,
    correlationIds: all.slice(0, MAX_LOGGED_CORRELATION_IDS),
    moreCorrelationIds: Math.max(0, all.length - MAX_LOGGED_CORRELATION_IDS),
    correlationIdAt: (position) => {
      byPosition ??= new Map(withIds.map(([record, id]) => [positionKey(record), id]));
      return byPosition.get(positionKey(position));
    },
  };
};

/**
 * Records the batch got through: all of a partition without a reported failure, and those
 * before the failed offset of one with (Lambda redelivers the failed record and the rest).
 */
export const countProcessed = (event: KafkaEvent, response: KafkaBatchResponse): number => {
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
