import { isUtf8 } from 'node:buffer';
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

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * `encoded` as bytes when it is base64 (the alphabet, padded to a multiple of 4), else
 * undefined. Buffer.from alone accepts anything (it skips stray characters and takes
 * base64url), so the text is checked: the fast way when re-encoding the bytes gives the text
 * back (then it is canonical base64, which the pattern accepts), the pattern otherwise (a
 * non-canonical form such as `QR==`, whose unused bits are not zero, is still base64).
 */
export const base64Bytes = (encoded: string): Buffer | undefined => {
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.toString('base64') === encoded) return bytes;
  return encoded.length % 4 === 0 && BASE64.test(encoded) ? bytes : undefined;
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const BOM = 0xfeff;

/**
 * The bytes as UTF-8 text, as TextDecoder('utf-8', {fatal: true}) gives it (a leading BOM
 * dropped), by Node's native check and decoder, which are several times faster.
 * @throws TypeError when the bytes are not UTF-8.
 */
export const utf8Text = (bytes: Buffer): string => {
  if (!isUtf8(bytes)) return utf8.decode(bytes); // throws, with TextDecoder's message
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === BOM ? text.slice(1) : text;
};

const decodeBase64Text = (encoded: string, what: string, position: RecordPosition): string => {
  const bytes = base64Bytes(encoded);
  if (bytes === undefined) throw new RecordDecodeError(`${what} is not valid base64`, position);
  try {
    return utf8Text(bytes);
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

/** True for an array of integers 0-255 (a header's value in an `aws:kafka` event). */
export const isByteArray = (bytes: unknown): bytes is number[] => {
  if (!Array.isArray(bytes)) return false;
  for (let i = 0; i < bytes.length; i += 1) {
    const byte: unknown = bytes[i];
    // Anything but an integer 0-255 (a fraction, negative, NaN, a string) changes under & 255.
    if (typeof byte !== 'number' || (byte & 255) !== byte) return false;
  }
  return true;
};

/**
 * A header's value (an array of byte values) as UTF-8 text; undefined when it is not an array
 * of integers 0-255. One pass: ASCII, as header values nearly always are, needs no decoder.
 * @throws TypeError when the bytes are not UTF-8.
 */
export const headerText = (bytes: unknown): string | undefined => {
  if (!Array.isArray(bytes)) return undefined;
  let ascii = true;
  for (let i = 0; i < bytes.length; i += 1) {
    const byte: unknown = bytes[i];
    // As isByteArray, in the same pass as the ASCII check.
    if (typeof byte !== 'number' || (byte & 255) !== byte) return undefined;
    if (byte > 127) ascii = false;
  }
  return ascii && bytes.length < 4_096
    ? String.fromCharCode(...(bytes as number[]))
    : utf8Text(Buffer.from(bytes as number[]));
};

const decodeHeaders = (headers: MSKRecord['headers'] | undefined, position: RecordPosition) => {
  const decoded: Record<string, string> = {};
  for (const header of headers ?? []) {
    for (const name in header) {
      if (!Object.hasOwn(header, name)) continue;
      let text: string | undefined;
      try {
        text = headerText(header[name]);
      } catch (cause) {
        throw new RecordDecodeError(`header "${name}" is not valid UTF-8`, position, { cause });
      }
      if (text === undefined) {
        throw new RecordDecodeError(`header "${name}" is not a byte array`, position);
      }
      decoded[name] = text;
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
  const { topic, partition, offset } = record;
  const position = { topic, partition, offset };
  const rawValue = record.value ?? null;
  const key = record.key == null ? null : decodeBase64Text(record.key, 'key', position);
  const value =
    rawValue === null
      ? null
      : (parseJson(decodeBase64Text(rawValue, 'value', position), position) as T);
  const headers = decodeHeaders(record.headers, position);
  return {
    topic,
    partition,
    offset,
    timestamp: record.timestamp,
    timestampType: record.timestampType,
    key,
    value,
    headers,
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
