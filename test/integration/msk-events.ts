import { randomUUID } from 'node:crypto';
import type { MSKEvent, MSKRecord } from 'aws-lambda';
import { orderKeys } from '../../lib/keys.ts';
import type { OrderEvent } from '../../lib/orders/schema.ts';
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

/** A valid order as createOrder puts it on `orders`, its Redis keys handed to `track` for cleanup. */
export const orderEvent = (
  track: (key: string) => unknown,
  overrides: Partial<OrderEvent> = {},
): OrderEvent => {
  const orderId = `ord-${randomUUID()}`;
  for (const key of Object.values(orderKeys(orderId))) track(key);
  return {
    eventId: randomUUID(),
    orderId,
    userId: 'user-42',
    items: [{ sku: 'SKU-RED-MUG', quantity: 2, price: 12.5 }],
    currency: 'EUR',
    total: 25,
    timestamp: new Date().toISOString(),
    ...overrides,
  };
};
