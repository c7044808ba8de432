import type { MSKRecord } from 'aws-lambda';
import { CORRELATION_ID_HEADER } from '../../kafka/record-headers.ts';
import type { KafkaBatchResponse } from '../batch-response.ts';
import type { KafkaEvent, RecordPosition } from '../kafka-event.ts';

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

/**
 * The record's `x-correlation-id` header (bytes as UTF-8), when it has a usable one (an array of
 * integers 0-255, not empty). One pass checks the bytes and whether they are ASCII, which a
 * short id nearly always is: then the bytes are their characters' codes.
 */
const correlationIdOfRecord = (record: MSKRecord): string | undefined => {
  const headers: unknown = record.headers;
  if (!Array.isArray(headers)) return undefined;
  for (const header of headers) {
    const bytes: unknown = header?.[CORRELATION_ID_HEADER];
    if (!Array.isArray(bytes) || bytes.length === 0) continue;
    let ascii = bytes.length <= 1_024;
    let usable = true;
    for (let i = 0; i < bytes.length; i += 1) {
      const byte: unknown = bytes[i];
      // As isByteArray: anything but an integer 0-255 changes under & 255.
      if (typeof byte !== 'number' || (byte & 255) !== byte) {
        usable = false;
        break;
      }
      if (byte > 127) ascii = false;
    }
    if (!usable) continue;
    // Decoded leniently (a log line, not a decision): invalid UTF-8 becomes U+FFFD.
    return (
      ascii
        ? String.fromCharCode.apply(null, bytes as number[])
        : Buffer.from(bytes as number[]).toString('utf8')
    ).slice(0, 128);
  }
  return undefined;
};

/** Offsets, record count and correlation ids of a batch; tolerant of malformed events. */
export const summarizeBatch = (event: KafkaEvent): BatchSummary => {
  const ranges: string[] = [];
  const distinct = new Set<string>();
  // Asked only for a failed record: the lookup is built on first use, not for every batch.
  const withIds: MSKRecord[] = [];
  const ids: string[] = [];
  let byPosition: Map<string, string> | undefined;
  let records = 0;
  const partitions =
    typeof event?.records === 'object' && event.records !== null ? event.records : {};
  for (const [topicPartition, list] of Object.entries(partitions)) {
    const entries: MSKRecord[] = Array.isArray(list) ? list : [];
    records += entries.length;
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    for (const record of entries) {
      const offset: unknown = record?.offset;
      if (Number.isInteger(offset)) {
        first = Math.min(first, offset as number);
        last = Math.max(last, offset as number);
      }
      const id = record ? correlationIdOfRecord(record) : undefined;
      if (id === undefined) continue;
      distinct.add(id);
      withIds.push(record);
      ids.push(id);
    }
    if (first <= last)
      ranges.push(`${topicPartition}:${first === last ? first : `${first}-${last}`}`);
    else ranges.push(topicPartition);
  }
  const all = distinct.size > MAX_LOGGED_CORRELATION_IDS ? [...distinct] : undefined;
  return {
    ranges,
    records,
    correlationIds: all ? all.slice(0, MAX_LOGGED_CORRELATION_IDS) : [...distinct],
    moreCorrelationIds: Math.max(0, distinct.size - MAX_LOGGED_CORRELATION_IDS),
    correlationIdAt: (position) => {
      byPosition ??= new Map(withIds.map((record, i) => [positionKey(record), ids[i] as string]));
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
