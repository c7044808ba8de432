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

const EQUALS = 0x3d;

/** Characters of `encoded` before its padding (at most two `=` at the end). */
const unpaddedLength = (encoded: string): number => {
  let length = encoded.length;
  if (length > 0 && encoded.charCodeAt(length - 1) === EQUALS) length -= 1;
  if (length > 0 && encoded.charCodeAt(length - 1) === EQUALS) length -= 1;
  return length;
};

/**
 * `encoded` as bytes when it is base64 (the alphabet, padded to a multiple of 4), else
 * undefined. Buffer.from alone accepts anything: it skips characters outside the alphabet
 * (whitespace, `*`, a `=` inside), takes base64url's `-` and `_`, and reads a character above
 * U+00FF by its low byte (U+0151 as `Q`). So: only ASCII (its UTF-8 length is its length), no
 * `-` or `_`, and then every skipped character costs the decoded bytes at least one: n
 * characters before the padding decode to exactly floor(n * 6 / 8) bytes only when each is in
 * the alphabet. No re-encoding of the bytes to compare (test/unit/decode-fast-paths.test.ts
 * holds this to the pattern it replaced).
 */
export const base64Bytes = (encoded: string): Buffer | undefined => {
  if (encoded.length % 4 !== 0 || Buffer.byteLength(encoded, 'utf8') !== encoded.length) {
    return undefined;
  }
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length !== Math.floor((unpaddedLength(encoded) * 6) / 8)) return undefined;
  return encoded.includes('-') || encoded.includes('_') ? undefined : bytes;
};

/** Character code -> its six bits in base64, -1 for a code outside the alphabet. */
const SEXTETS = new Int8Array(128).fill(-1);
for (const [i, char] of [
  ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
].entries()) {
  SEXTETS[char.charCodeAt(0)] = i;
}
/** The longest text shortAsciiBase64 decodes (a key: an id, a user id). */
const SHORT_BASE64 = 64;

/**
 * A short base64 text (a record's key) decoded in JavaScript when it is valid base64 of ASCII
 * bytes: the same text as utf8Text(base64Bytes(encoded)) gives, without the four calls into
 * Buffer that cost more than the decoding itself at this size. undefined for anything else
 * (longer, invalid, not ASCII): the general path decides, and words any error.
 */
export const shortAsciiBase64 = (encoded: string): string | undefined => {
  if (encoded.length > SHORT_BASE64 || encoded.length % 4 !== 0) return undefined;
  const data = unpaddedLength(encoded);
  const codes: number[] = [];
  let bits = 0;
  let pending = 0;
  for (let i = 0; i < data; i += 1) {
    const code = encoded.charCodeAt(i);
    const sextet = code < 128 ? (SEXTETS[code] as number) : -1;
    if (sextet < 0) return undefined;
    bits = ((bits << 6) | sextet) & 0xfff;
    pending += 6;
    if (pending >= 8) {
      pending -= 8;
      const byte = (bits >> pending) & 255;
      if (byte > 127) return undefined;
      codes.push(byte);
    }
  }
  return String.fromCharCode.apply(null, codes);
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const BOM = 0xfeff;
const REPLACEMENT = '\ufffd';

/**
 * The bytes as UTF-8 text, as TextDecoder('utf-8', {fatal: true}) gives it (a leading BOM
 * dropped), by Node's own decoder, which is several times faster. That decoder puts U+FFFD for
 * every byte sequence that is not UTF-8, so text without one came from UTF-8 as it is; text
 * with one (bytes that are not UTF-8, or a U+FFFD written out) is left to TextDecoder.
 * @throws TypeError when the bytes are not UTF-8.
 */
export const utf8Text = (bytes: Buffer): string => {
  const text = bytes.toString('utf8');
  if (text.includes(REPLACEMENT)) return utf8.decode(bytes);
  return text.charCodeAt(0) === BOM ? text.slice(1) : text;
};

const positionOfRecord = ({ topic, partition, offset }: MSKRecord): RecordPosition => ({
  topic,
  partition,
  offset,
});

const decodeBase64Text = (encoded: string, what: string, record: MSKRecord): string => {
  const short = shortAsciiBase64(encoded);
  if (short !== undefined) return short;
  const bytes = base64Bytes(encoded);
  if (bytes === undefined) {
    throw new RecordDecodeError(`${what} is not valid base64`, positionOfRecord(record));
  }
  try {
    return utf8Text(bytes);
  } catch (cause) {
    throw new RecordDecodeError(`${what} is not valid UTF-8`, positionOfRecord(record), {
      cause,
    });
  }
};

// A key named __proto__ is legal JSON but poisons any later object merge; refuse it up front.
const rejectProto = (key: string, value: unknown) => {
  if (key === '__proto__') throw new SyntaxError('the key "__proto__" is not allowed');
  return value;
};

const parseJson = (text: string, record: MSKRecord): unknown => {
  try {
    // The reviver sees keys unescaped, but costs a call per value, so it runs only for a text
    // that could hold the key: one holding "__proto__" as written, or any \u escape (which
    // can spell it, as "\u005f_proto__"; JSON has no other escape for its letters). Looked for
    // without its quotes first: a search for text starting with `"`, which JSON is full of,
    // takes several times longer, and a text without __proto__ has no "__proto__".
    return (text.includes('__proto__') && text.includes('"__proto__"')) || text.includes('\\u')
      ? JSON.parse(text, rejectProto)
      : JSON.parse(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new RecordDecodeError(`value is not JSON (${reason})`, positionOfRecord(record), {
      cause,
    });
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

const decodeHeaders = (headers: MSKRecord['headers'] | undefined, record: MSKRecord) => {
  const decoded: Record<string, string> = {};
  for (const header of headers ?? []) {
    for (const name in header) {
      if (!Object.hasOwn(header, name)) continue;
      let text: string | undefined;
      try {
        text = headerText(header[name]);
      } catch (cause) {
        throw new RecordDecodeError(
          `header "${name}" is not valid UTF-8`,
          positionOfRecord(record),
          { cause },
        );
      }
      if (text === undefined) {
        throw new RecordDecodeError(
          `header "${name}" is not a byte array`,
          positionOfRecord(record),
        );
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
  // The position is built only for an error: a record decoded costs no object for it.
  const rawValue = record.value ?? null;
  const key = record.key == null ? null : decodeBase64Text(record.key, 'key', record);
  const value =
    rawValue === null
      ? null
      : (parseJson(decodeBase64Text(rawValue, 'value', record), record) as T);
  const headers = decodeHeaders(record.headers, record);
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
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

const inOffsetOrder = (entries: readonly SourcedRecord[]): boolean => {
  for (let i = 1; i < entries.length; i += 1) {
    const before = entries[i - 1] as SourcedRecord;
    const after = entries[i] as SourcedRecord;
    if (positionOf(before.decoded).offset > positionOf(after.decoded).offset) return false;
  }
  return true;
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
    // Lambda hands a partition over in offset order: sorted only when it is not.
    if (!inOffsetOrder(entries)) {
      entries.sort((a, b) => positionOf(a.decoded).offset - positionOf(b.decoded).offset);
    }
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
