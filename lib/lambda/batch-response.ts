/**
 * The Kafka partial-batch response (`ReportBatchItemFailures` on an MSK or self-managed Kafka
 * event-source mapping), both ways: what a consumer returns, and what Lambda makes of what a
 * function returned. The form is the one AWS's own libraries use (Powertools for Python
 * `KafkaItemIdentifier` with `EventType.Kafka`; the Lambda Rust runtime's proposed
 * `KafkaItemIdentifier { partition, offset }`):
 * `{"batchItemFailures": [{"itemIdentifier": {"partition": "<topic>-<partition>", "offset": 15}}]}`,
 * `partition` holding the key of the event's `records`, `offset` an integer.
 */

import type { RecordPosition } from './kafka-event.ts';

/** Names one failed record: the `records` key of its partition and its offset. */
export interface KafkaItemIdentifier {
  partition: string;
  offset: number;
}

export interface KafkaBatchResponse {
  batchItemFailures: Array<{ itemIdentifier: KafkaItemIdentifier }>;
}

/** The response reporting `failed` (empty: the whole batch succeeded). */
export const batchItemFailures = (failed: readonly RecordPosition[]): KafkaBatchResponse => ({
  batchItemFailures: failed.map(({ topic, partition, offset }) => ({
    itemIdentifier: { partition: `${topic}-${partition}`, offset },
  })),
});

/** What Lambda does with a batch after reading the function's response. */
export type BatchDecision =
  | { kind: 'success' }
  /** `<topic>-<partition>` -> first offset to redeliver; partitions not named are done. */
  | { kind: 'partial'; redeliverFrom: ReadonlyMap<string, number> }
  /** The whole batch failed (retried, then the on-failure destination); `reason` says why. */
  | { kind: 'invalid'; reason: string };

/** The part of the invoked event the response is checked against. */
export interface InvokedBatch {
  records: Readonly<Record<string, ReadonlyArray<{ offset: number }>>>;
}

const FORM = '{"partition": "<topic>-<partition>", "offset": <integer>}';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A value as JSON for a log line, cut short; never throws (cycles, BigInt, no prototype). */
const describe = (value: unknown): string => {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    try {
      text = String(value);
    } catch {
      text = Object.prototype.toString.call(value);
    }
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
};

const offsetsOf = (batch: InvokedBatch, partition: string): readonly { offset: number }[] => {
  const records = Object.hasOwn(batch.records, partition) ? batch.records[partition] : undefined;
  return Array.isArray(records) ? records : [];
};

const heldOffsets = (records: readonly { offset: number }[]): string => {
  const offsets = records.map(({ offset }) => offset);
  const first = offsets.reduce((a, b) => Math.min(a, b));
  const last = offsets.reduce((a, b) => Math.max(a, b));
  return first === last ? `offset ${first}` : `offsets ${first}-${last}`;
};

type Item = { ok: true; partition: string; offset: number } | { ok: false; reason: string };

/** Reads `batchItemFailures[index]`: Lambda's Kafka form naming a record of the batch, or why not. */
const readItem = (entry: unknown, index: number, batch: InvokedBatch): Item => {
  const where = `batchItemFailures[${index}]`;
  if (!isObject(entry) || !Object.hasOwn(entry, 'itemIdentifier')) {
    return { ok: false, reason: `${where} is ${describe(entry)}, not {"itemIdentifier": ${FORM}}` };
  }
  const identifier = entry.itemIdentifier;
  if (!isObject(identifier)) {
    const form = typeof identifier === 'string' ? ' (the SQS/Kinesis form)' : '';
    return {
      ok: false,
      reason: `${where}.itemIdentifier is ${describe(identifier)}${form}; for Kafka it is ${FORM}`,
    };
  }
  const keys = Object.keys(identifier);
  const unknown = keys.filter((key) => key !== 'partition' && key !== 'offset');
  const missing = ['partition', 'offset'].filter((key) => !keys.includes(key));
  if (unknown.length > 0 || missing.length > 0) {
    const has = unknown.map((key) => JSON.stringify(key)).join(', ');
    const lacks = missing.map((key) => JSON.stringify(key)).join(' and ');
    const problem = [
      unknown.length > 0 ? `has the key${unknown.length > 1 ? 's' : ''} ${has}` : '',
      missing.length > 0 ? `lacks ${lacks}` : '',
    ]
      .filter(Boolean)
      .join(' and ');
    return {
      ok: false,
      reason: `${where}.itemIdentifier ${describe(identifier)} ${problem}; Lambda reads exactly ${FORM}`,
    };
  }
  const { partition, offset } = identifier;
  if (typeof partition !== 'string') {
    return {
      ok: false,
      reason: `${where}.itemIdentifier.partition is ${describe(partition)}, not a "<topic>-<partition>" string`,
    };
  }
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) {
    const kind = typeof offset === 'string' ? 'the string ' : '';
    return {
      ok: false,
      reason: `${where}.itemIdentifier.offset is ${kind}${describe(offset)}, not an integer`,
    };
  }
  const records = offsetsOf(batch, partition);
  if (records.length === 0) {
    const held = Object.keys(batch.records).map((key) => JSON.stringify(key));
    return {
      ok: false,
      reason: `${where} names partition ${JSON.stringify(partition)}, which was not in the invoked batch (it held ${held.join(', ') || 'no partitions'})`,
    };
  }
  if (!records.some((record) => record.offset === offset)) {
    return {
      ok: false,
      reason: `${where} names offset ${offset} of ${partition}, which was not in the invoked batch (${partition} held ${heldOffsets(records)})`,
    };
  }
  return { ok: true, partition, offset };
};

/**
 * What Lambda makes of `response`, the result of a function invoked with `batch`, when the
 * mapping has `ReportBatchItemFailures` (without it Lambda does not read the response):
 * - success: no response (null/undefined), `{}`, `batchItemFailures` null or empty;
 * - partial: every entry names a record of the batch in the Kafka form; per partition the
 *   lowest offset named is where redelivery starts, the records before it are done;
 * - invalid (the whole batch failed, as when the function throws): anything else, e.g. another
 *   key than `partition` (an earlier version of this project wrote `topic-partition`), an
 *   offset that is not an integer, the SQS/Kinesis string form, a record not in the batch.
 * Pure; never throws.
 */
export const readKafkaBatchResponse = (response: unknown, batch: InvokedBatch): BatchDecision => {
  if (response === undefined || response === null) return { kind: 'success' };
  if (!isObject(response)) {
    return {
      kind: 'invalid',
      reason: `the response is ${describe(response)}, not an object {"batchItemFailures": [...]}`,
    };
  }
  const failures = response.batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) {
    return {
      kind: 'invalid',
      reason: `batchItemFailures is ${describe(failures)}, not a list`,
    };
  }
  if (failures.length === 0) return { kind: 'success' };
  const redeliverFrom = new Map<string, number>();
  for (const [index, entry] of failures.entries()) {
    const item = readItem(entry, index, batch);
    if (!item.ok) return { kind: 'invalid', reason: item.reason };
    const known = redeliverFrom.get(item.partition);
    if (known === undefined || item.offset < known) redeliverFrom.set(item.partition, item.offset);
  }
  return { kind: 'partial', redeliverFrom };
};

/**
 * The log message for an invalid response: what was wrong, and what a mapping does about it
 * (the same as Lambda: the whole batch is retried, then handed to the on-failure destination).
 */
export const invalidResponseMessage = (reason: string): string =>
  `invalid Kafka partial batch response: ${reason}. Lambda counts this as a failure of the whole batch: every record of it is delivered again, and goes to the on-failure destination once retries run out (build the response with batchItemFailures() of lib/lambda/batch-response.ts)`;
