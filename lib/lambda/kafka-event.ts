import type { MSKEvent, MSKRecord, SelfManagedKafkaEvent } from 'aws-lambda';
import { ValidationError } from '../errors.ts';

/** Where a record sits in Kafka; also what a partial-batch response names (batch-response.ts). */
export interface RecordPosition {
  topic: string;
  partition: number;
  offset: number;
}

/** A record of an `aws:kafka` / `SelfManagedKafka` event, decoded. */
export interface KafkaRecord<T = unknown> extends RecordPosition {
  timestamp: number;
  timestampType: string;
  key: string | null;
  /** The value parsed as JSON; null for a tombstone (no value). */
  value: T | null;
  headers: Record<string, string>;
  /** The value as it arrived (base64), for dead-lettering byte for byte. */
  rawValue: string | null;
}

/** Why one record could not be decoded; the rest of the batch is unaffected. */
export class RecordDecodeError extends ValidationError {
  constructor(
    message: string,
    readonly position: RecordPosition,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RecordDecodeError';
  }
}

export type DecodedRecord<T = unknown> =
  | { ok: true; record: KafkaRecord<T> }
  | { ok: false; position: RecordPosition; error: RecordDecodeError };

export type KafkaEvent = MSKEvent | SelfManagedKafkaEvent;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const decodeBase64Text = (encoded: string, what: string, position: RecordPosition): string => {
  if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) {
    throw new RecordDecodeError(`${what} is not valid base64`, position);
  }
  try {
    return utf8.decode(Buffer.from(encoded, 'base64'));
  } catch (cause) {
    throw new RecordDecodeError(`${what} is not valid UTF-8`, position, { cause });
  }
};

// A key named __proto__ is legal JSON but poisons any later object merge; refuse it up front.
const rejectProto = (key: string, value: unknown) => {
  if (key === '__proto__') throw new SyntaxError('the key "__proto__" is not allowed');
  return value;
};

const parseJson = (text: string, position: RecordPosition): unknown => {
  try {
    return text.includes('"__proto__"') ? JSON.parse(text, rejectProto) : JSON.parse(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new RecordDecodeError(`value is not JSON (${reason})`, position, { cause });
  }
};

const decodeHeaders = (headers: MSKRecord['headers'] | undefined, position: RecordPosition) => {
  const decoded: Record<string, string> = {};
  for (const header of headers ?? []) {
    for (const [name, bytes] of Object.entries(header)) {
      if (
        !Array.isArray(bytes) ||
        bytes.some((byte) => !Number.isInteger(byte) || byte < 0 || byte > 255)
      ) {
        throw new RecordDecodeError(`header "${name}" is not a byte array`, position);
      }
      try {
        decoded[name] = utf8.decode(Uint8Array.from(bytes));
      } catch (cause) {
        throw new RecordDecodeError(`header "${name}" is not valid UTF-8`, position, { cause });
      }
    }
  }
  return decoded;
};

/**
 * Decodes one record: base64 key and value, the value parsed as JSON, headers from byte
 * arrays to strings.
 * @throws RecordDecodeError naming the record and what is wrong with it.
 */
export const decodeRecord = <T = unknown>(record: MSKRecord): KafkaRecord<T> => {
  const position = { topic: record.topic, partition: record.partition, offset: record.offset };
  const rawValue = record.value ?? null;
  return {
    ...position,
    timestamp: record.timestamp,
    timestampType: record.timestampType,
    key: record.key == null ? null : decodeBase64Text(record.key, 'key', position),
    value:
      rawValue === null
        ? null
        : (parseJson(decodeBase64Text(rawValue, 'value', position), position) as T),
    headers: decodeHeaders(record.headers, position),
    rawValue,
  };
};

const isPosition = (record: unknown): record is MSKRecord =>
  typeof record === 'object' &&
  record !== null &&
  typeof (record as MSKRecord).topic === 'string' &&
  Number.isInteger((record as MSKRecord).partition) &&
  Number.isInteger((record as MSKRecord).offset);

/** A decoded record beside the record as it arrived (for dead-lettering it byte for byte). */
export interface SourcedRecord<T = unknown> {
  decoded: DecodedRecord<T>;
  /** The record exactly as the event carried it; may be malformed when `decoded` failed. */
  source: MSKRecord;
}

const decodeEntry = <T>(topicPartition: string, record: unknown): SourcedRecord<T> => {
  if (!isPosition(record)) {
    const position = {
      topic: topicPartition.replace(/-\d+$/, ''),
      partition: Number(topicPartition.match(/-(\d+)$/)?.[1] ?? -1),
      offset: -1,
    };
    const source = {
      ...(typeof record === 'object' && record !== null ? record : {}),
      ...position,
    };
    return {
      decoded: {
        ok: false,
        position,
        error: new RecordDecodeError('record has no topic, partition or offset', position),
      },
      source: source as MSKRecord,
    };
  }
  try {
    return { decoded: { ok: true, record: decodeRecord<T>(record) }, source: record };
  } catch (error) {
    const position = { topic: record.topic, partition: record.partition, offset: record.offset };
    const failure =
      error instanceof RecordDecodeError
        ? error
        : new RecordDecodeError(String(error), position, { cause: error });
    return { decoded: { ok: false, position, error: failure }, source: record };
  }
};

/**
 * The event's records grouped by topic-partition, each partition in offset order, each record
 * decoded (or carrying the error that stopped it) beside the record as it arrived.
 * @throws ValidationError when the event itself is not a Kafka event (nothing to process).
 */
export const decodeKafkaEventWithSource = <T = unknown>(
  event: KafkaEvent,
): Map<string, SourcedRecord<T>[]> => {
  const source = (event as { eventSource?: unknown } | undefined)?.eventSource;
  if (source !== 'aws:kafka' && source !== 'SelfManagedKafka') {
    throw new ValidationError(
      `Not a Kafka event: eventSource is ${JSON.stringify(source)}, expected "aws:kafka" or "SelfManagedKafka"`,
    );
  }
  if (typeof event.records !== 'object' || event.records === null) {
    throw new ValidationError('Not a Kafka event: "records" is missing');
  }
  const partitions = new Map<string, SourcedRecord<T>[]>();
  for (const [topicPartition, records] of Object.entries(event.records)) {
    const entries = (Array.isArray(records) ? records : []).map((record: unknown) =>
      decodeEntry<T>(topicPartition, record),
    );
    entries.sort((a, b) => positionOf(a.decoded).offset - positionOf(b.decoded).offset);
    partitions.set(topicPartition, entries);
  }
  return partitions;
};

/**
 * The event's records grouped by topic-partition, each partition in offset order, each record
 * decoded or carrying the error that stopped it. Partitions are independent and may be
 * processed in parallel; records within one must be processed in order.
 * @throws ValidationError when the event itself is not a Kafka event (nothing to process).
 */
export const decodeKafkaEvent = <T = unknown>(event: KafkaEvent): Map<string, DecodedRecord<T>[]> =>
  new Map(
    [...decodeKafkaEventWithSource<T>(event)].map(([topicPartition, entries]) => [
      topicPartition,
      entries.map(({ decoded }) => decoded),
    ]),
  );

const positionOf = (decoded: DecodedRecord): RecordPosition =>
  decoded.ok ? decoded.record : decoded.position;
