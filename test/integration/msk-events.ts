import type { MSKEvent, MSKRecord } from 'aws-lambda';
import { loadAwsFixture } from '../support/fixtures.ts';

/**
 * `aws:kafka` events for the consumer tests, built on AWS's documented example
 * (test/fixtures/aws/msk-event.json): base64 key and value, headers as byte arrays, records
 * grouped by `<topic>-<partition>`.
 */

export interface RecordSpec {
  partition?: number;
  offset: number;
  key?: string;
  /** A JSON value, or the exact bytes (a Buffer) for records that must not decode. */
  value: unknown;
  headers?: Record<string, string>;
  timestamp?: number;
}

const template = (): MSKRecord => {
  const [record] = Object.values(loadAwsFixture<MSKEvent>('msk-event.json').records)[0] ?? [];
  if (!record) throw new Error('test/fixtures/aws/msk-event.json has no record');
  return record;
};

/** The cluster ARN of the events built here (AWS's example). */
export const FIXTURE_CLUSTER = loadAwsFixture<MSKEvent>('msk-event.json').eventSourceArn;

/** One record of `topic` as AWS delivers it. */
export const mskRecord = (topic: string, spec: RecordSpec): MSKRecord => {
  const bytes = Buffer.isBuffer(spec.value) ? spec.value : Buffer.from(JSON.stringify(spec.value));
  const { key: _key, ...base } = template();
  // AWS leaves `key` out for a record without one; @types/aws-lambda declares it always there.
  return {
    ...base,
    topic,
    partition: spec.partition ?? 0,
    offset: spec.offset,
    timestamp: spec.timestamp ?? Date.now(),
    ...(spec.key === undefined ? {} : { key: Buffer.from(spec.key).toString('base64') }),
    value: bytes.toString('base64'),
    headers: Object.entries(spec.headers ?? {}).map(([name, text]) => ({
      [name]: [...Buffer.from(text)],
    })),
  } as MSKRecord;
};

/** An `aws:kafka` event holding `records` (each partition in the order given). */
export const mskEvent = (records: MSKRecord[]): MSKEvent => {
  const event = loadAwsFixture<MSKEvent>('msk-event.json');
  event.records = {};
  for (const record of records) {
    const topicPartition = `${record.topic}-${record.partition}`;
    event.records[topicPartition] ??= [];
    event.records[topicPartition].push(record);
  }
  return event;
};

/** A far-future day no other test writes analytics for. */
export const uniqueDay = (): string => {
  const year = 2100 + Math.floor(Math.random() * 800);
  const month = String(1 + Math.floor(Math.random() * 12)).padStart(2, '0');
  const day = String(1 + Math.floor(Math.random() * 28)).padStart(2, '0');
  return `${year}-${month}-${day}`;
};
