import type { MSKRecord } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { calendarDay, dayOf, plainIsoDay } from '../../lib/analytics/aggregate.ts';
import { CORRELATION_ID_HEADER } from '../../lib/kafka/record-headers.ts';
import {
  MAX_LOGGED_CORRELATION_IDS,
  summarizeBatch,
} from '../../lib/lambda/consumer/batch-summary.ts';
import {
  base64Bytes,
  decodeKafkaEventWithSource,
  decodeRecord,
  headerText,
  isByteArray,
  RecordDecodeError,
  shortAsciiBase64,
  utf8Text,
} from '../../lib/lambda/kafka-event.ts';

/**
 * The decoding fast paths (issue 18) against the checks they replaced, kept here verbatim as
 * the reference: each must accept exactly what the old one accepted, decode it to the same
 * text, and refuse the rest.
 */

const oldBase64 = /^[A-Za-z0-9+/]*={0,2}$/;
const oldIsBase64 = (encoded: string) => encoded.length % 4 === 0 && oldBase64.test(encoded);
const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });
const oldUtf8 = (bytes: Uint8Array): string | Error => {
  try {
    return fatalUtf8.decode(bytes);
  } catch (error) {
    return error as Error;
  }
};
const oldIsByteArray = (bytes: unknown) =>
  Array.isArray(bytes) && !bytes.some((byte) => !Number.isInteger(byte) || byte < 0 || byte > 255);
const oldCalendarDay = (ms: number): string | undefined => {
  if (!Number.isFinite(ms)) return undefined;
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  return Number.isNaN(year) || year < 0 || year > 9999
    ? undefined
    : date.toISOString().slice(0, 10);
};

const BASE64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ *!\n';
const base64ish = fc
  .array(fc.constantFrom(...BASE64_CHARS), { maxLength: 24 })
  .map((chars) => chars.join(''));

/** Base64 with one character swapped for any other, U+0100 and up included. */
const wideBase64ish = fc
  .tuple(
    fc
      .uint8Array({ minLength: 1, maxLength: 12 })
      .map((bytes) => Buffer.from(bytes).toString('base64')),
    fc.nat(),
    fc.oneof(
      fc.constantFrom(...BASE64_CHARS),
      // Characters whose low byte is in the alphabet (or is =, -, _).
      fc
        .constantFrom(...BASE64_CHARS)
        .map((char) => String.fromCharCode(char.charCodeAt(0) + 0x100)),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    ),
  )
  .map(([text, at, char]) => {
    const i = at % text.length;
    return text.slice(0, i) + char + text.slice(i + 1);
  });

const record = (override: Partial<MSKRecord>): MSKRecord => ({
  topic: 't',
  partition: 0,
  offset: 1,
  timestamp: 0,
  timestampType: 'CREATE_TIME',
  key: Buffer.from('k').toString('base64'),
  value: Buffer.from('{"a":1}').toString('base64'),
  headers: [],
  ...override,
});

describe('base64 check', () => {
  it.each([
    ['not base64!'],
    ['***'],
    ['QQ='], // not a multiple of 4
    ['QQ=A'], // padding inside
    ['Q==='], // three padding characters
    ['a-_b'], // base64url, which Buffer.from would take
    ['QQ==\n'],
    [' QQ=='],
  ])('refuses %j, as the pattern did', (encoded) => {
    expect(oldIsBase64(encoded)).toBe(false);
    expect(base64Bytes(encoded)).toBeUndefined();
    expect(() => decodeRecord(record({ value: encoded }))).toThrowError(
      /value is not valid base64/,
    );
  });

  it('still takes a non-canonical form the pattern took (QR==: unused bits set)', () => {
    expect(oldIsBase64('QR==')).toBe(true);
    expect(base64Bytes('QR==')?.toString()).toBe('A');
  });

  it.each([
    ['\u0151UFB'], // Buffer.from reads U+0151 as its low byte, Q
    ['QUFB\u0141Q=='], // the same for U+0141, L
    ['a-_b'],
    ['QQ=AQQ=='],
  ])('refuses %j, which Buffer.from decodes to bytes of the right length', (encoded) => {
    expect(oldIsBase64(encoded)).toBe(false);
    expect(base64Bytes(encoded)).toBeUndefined();
  });

  it('accepts exactly what the pattern accepted, with the same bytes (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(base64ish, wideBase64ish, fc.string(), fc.uint8Array().map(toBase64)),
        (encoded) => {
          const bytes = base64Bytes(encoded);
          expect(bytes !== undefined).toBe(oldIsBase64(encoded));
          if (bytes) expect(bytes.equals(Buffer.from(encoded, 'base64'))).toBe(true);
        },
      ),
      { numRuns: 3_000 },
    );
  });
});

const toBase64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

describe('short base64 keys', () => {
  /** The general path: the pattern, then the fatal decoder (a BOM dropped). */
  const oldText = (encoded: string): string | undefined => {
    if (!oldIsBase64(encoded)) return undefined;
    const text = oldUtf8(Buffer.from(encoded, 'base64'));
    return text instanceof Error ? undefined : text;
  };

  it('decodes ASCII keys as the general path does, and leaves everything else to it (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          base64ish,
          wideBase64ish,
          fc.string(),
          fc.uint8Array({ maxLength: 60 }).map(toBase64),
          fc
            .string({ unit: 'binary-ascii', maxLength: 60 })
            .map((text) => toBase64(Buffer.from(text))),
        ),
        (encoded) => {
          const fast = shortAsciiBase64(encoded);
          const expected = oldText(encoded);
          if (fast !== undefined) expect(fast).toBe(expected);
          // It takes every short ASCII key, so the general path is left the rare ones.
          else if (expected !== undefined && encoded.length <= 64)
            expect([...expected].some((char) => char.charCodeAt(0) > 127)).toBe(true);
          const key = (() => {
            try {
              return decodeRecord(record({ key: encoded })).key;
            } catch (error) {
              return error as Error;
            }
          })();
          if (expected === undefined) expect(key).toBeInstanceOf(RecordDecodeError);
          else expect(key).toBe(expected);
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('takes a non-canonical form (unused bits set) and the empty key, as the general path does', () => {
    expect(shortAsciiBase64('QR==')).toBe('A');
    expect(shortAsciiBase64('')).toBe('');
    expect(decodeRecord(record({ key: '' })).key).toBe('');
  });
});

describe('UTF-8 decoding', () => {
  it('refuses what the fatal TextDecoder refused and gives the same text otherwise (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 16 }),
          fc.string({ unit: 'binary' }).map((text) => new Uint8Array(Buffer.from(text))),
          fc
            .uint8Array({ maxLength: 8 })
            .map((rest) => Uint8Array.from([0xef, 0xbb, 0xbf, ...rest])),
          // U+FFFD written out (valid), beside bytes that are not UTF-8 or are.
          fc
            .tuple(fc.string({ maxLength: 6 }), fc.uint8Array({ maxLength: 4 }), fc.boolean())
            .map(([text, rest, valid]) =>
              Uint8Array.from([
                ...Buffer.from(`${text}\ufffd`),
                ...(valid ? Buffer.from(String.fromCharCode(...rest)) : rest),
              ]),
            ),
        ),
        (bytes) => {
          const expected = oldUtf8(bytes);
          if (expected instanceof Error) expect(() => utf8Text(Buffer.from(bytes))).toThrow();
          else expect(utf8Text(Buffer.from(bytes))).toBe(expected);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('drops a leading byte order mark, as TextDecoder does', () => {
    expect(utf8Text(Buffer.from([0xef, 0xbb, 0xbf, 0x41]))).toBe('A');
  });

  it('says the value is not UTF-8 for overlong and lone continuation bytes', () => {
    for (const bytes of [[0xc0, 0xaf], [0x80], [0xed, 0xa0, 0x80]]) {
      expect(() =>
        decodeRecord(record({ value: Buffer.from(bytes).toString('base64') })),
      ).toThrowError(/value is not valid UTF-8/);
    }
  });
});

describe('header bytes', () => {
  it.each([
    [[300]],
    [[-1]],
    [[1.5]],
    [[Number.NaN]],
    [['65']],
    [[65, null]],
    [[Number.POSITIVE_INFINITY]],
    ['AB'],
    [{ 0: 65, length: 1 }],
  ])('refuses %j as a byte array, as the per-byte check did', (bytes) => {
    expect(oldIsByteArray(bytes)).toBe(false);
    expect(isByteArray(bytes)).toBe(false);
    expect(headerText(bytes)).toBeUndefined();
    expect(() => decodeRecord(record({ headers: [{ h: bytes as number[] }] }))).toThrowError(
      expect.objectContaining({
        message: expect.stringContaining('header "h" is not a byte array'),
      }),
    );
  });

  it('says a header is not UTF-8 when its bytes are not', () => {
    expect(() => decodeRecord(record({ headers: [{ h: [0xff, 0x41] }] }))).toThrowError(
      /header "h" is not valid UTF-8/,
    );
  });

  it('agrees with the per-byte check and the fatal decoder on any array (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.integer({ min: 0, max: 127 }),
            fc.integer({ min: -3, max: 300 }),
            fc.double(),
            fc.constant('7'),
          ),
          { maxLength: 12 },
        ),
        (bytes) => {
          expect(isByteArray(bytes)).toBe(oldIsByteArray(bytes));
          if (!oldIsByteArray(bytes)) {
            expect(headerText(bytes)).toBeUndefined();
            return;
          }
          const expected = oldUtf8(Uint8Array.from(bytes as number[]));
          if (expected instanceof Error) expect(() => headerText(bytes)).toThrow();
          else expect(headerText(bytes)).toBe(expected);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('reads the correlation id of a batch summary as before, and finds it by position', () => {
    const id = [...Buffer.from('ünïcode-correlation')];
    const summary = summarizeBatch({
      eventSource: 'aws:kafka',
      records: {
        't-0': [
          record({ offset: 7, headers: [{ 'x-correlation-id': id }] }),
          record({ offset: 8, headers: [{ 'x-correlation-id': [1.5] as number[] }] }),
        ],
      },
    } as never);
    expect(summary.correlationIds).toEqual(['ünïcode-correlation']);
    expect(summary.correlationIdAt({ topic: 't', partition: 0, offset: 7 })).toBe(
      'ünïcode-correlation',
    );
    expect(summary.correlationIdAt({ topic: 't', partition: 0, offset: 8 })).toBeUndefined();
  });
});

const oldCorrelationIdOfRecord = (record: MSKRecord): string | undefined => {
  for (const header of Array.isArray(record.headers) ? record.headers : []) {
    const bytes: unknown = header?.[CORRELATION_ID_HEADER];
    if (oldIsByteArray(bytes) && (bytes as number[]).length > 0) {
      const list = bytes as number[];
      const ascii = list.length <= 1_024 && list.every((byte) => byte <= 127);
      return (ascii ? String.fromCharCode(...list) : Buffer.from(list).toString('utf8')).slice(
        0,
        128,
      );
    }
  }
  return undefined;
};

const positionKey = ({ topic, partition, offset }: MSKRecord) => `${topic}-${partition}:${offset}`;

/** summarizeBatch before issue 18's second pass; its lookup by position built at once. */
const oldSummary = (records: Record<string, unknown>) => {
  const ranges: string[] = [];
  const distinct = new Set<string>();
  const withIds: Array<[MSKRecord, string]> = [];
  let count = 0;
  for (const [topicPartition, list] of Object.entries(records)) {
    const entries: MSKRecord[] = Array.isArray(list) ? list : [];
    const offsets = entries.map((record) => record?.offset).filter(Number.isInteger);
    count += entries.length;
    if (offsets.length > 0) {
      const first = Math.min(...offsets);
      const last = Math.max(...offsets);
      ranges.push(`${topicPartition}:${first === last ? first : `${first}-${last}`}`);
    } else ranges.push(topicPartition);
    for (const record of entries) {
      const id = record ? oldCorrelationIdOfRecord(record) : undefined;
      if (id === undefined) continue;
      distinct.add(id);
      withIds.push([record, id]);
    }
  }
  const all = [...distinct];
  return {
    ranges,
    records: count,
    correlationIds: all.slice(0, MAX_LOGGED_CORRELATION_IDS),
    moreCorrelationIds: Math.max(0, all.length - MAX_LOGGED_CORRELATION_IDS),
    byPosition: new Map(withIds.map(([record, id]) => [positionKey(record), id])),
  };
};

describe('offset order', () => {
  it('is the order a stable sort by offset gives, sorted input left as it is (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.integer({ min: 0, max: 6 }).map((offset) => record({ offset })),
            // Without a usable offset: its position says -1.
            fc.constant({ topic: 't', partition: 0 } as unknown as MSKRecord),
          ),
          { maxLength: 12 },
        ),
        fc.boolean(),
        (records, sortFirst) => {
          const offsetOf = (one: MSKRecord) => (Number.isInteger(one.offset) ? one.offset : -1);
          const input = sortFirst
            ? [...records].sort((a, b) => offsetOf(a) - offsetOf(b))
            : records;
          const expected = [...input].sort((a, b) => offsetOf(a) - offsetOf(b));
          const entries = decodeKafkaEventWithSource({
            eventSource: 'aws:kafka',
            records: { 't-0': input },
          } as never).get('t-0');
          // A record without a position comes back as a copy that names one: -1 stands for it.
          const kept = (one: MSKRecord) => (input.includes(one) ? one : -1);
          expect(entries?.map(({ source }) => kept(source))).toEqual(
            expected.map((one) => (Number.isInteger(one.offset) ? one : -1)),
          );
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('batch summary', () => {
  /** Header bytes: ASCII ids (some repeated, some long), other UTF-8, invalid bytes, non-bytes. */
  const idBytes = fc.oneof(
    fc.constantFrom('c-1', 'c-2', 'c-3').map((id) => [...Buffer.from(id)]),
    fc.string({ minLength: 120, maxLength: 140 }).map((id) => [...Buffer.from(id)]),
    fc.string({ unit: 'binary', maxLength: 8 }).map((id) => [...Buffer.from(id)]),
    fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: -1, max: 300 })), {
      maxLength: 6,
    }),
    fc.constantFrom([], [1.5], ['65'], 'c-1', null),
  );
  const header = fc.oneof(
    idBytes.map((bytes) => ({ [CORRELATION_ID_HEADER]: bytes })),
    fc.constant({ other: [65] }),
    fc.constant(null),
  );
  const entry = fc.oneof(
    fc.record({
      topic: fc.constant('t'),
      partition: fc.constant(0),
      offset: fc.oneof(fc.nat(50), fc.constant(1.5), fc.constant(-0), fc.constant(undefined)),
      headers: fc.oneof(fc.array(header, { maxLength: 3 }), fc.constant(undefined)),
    }),
    fc.constantFrom(null, 7, 'record'),
  );
  const records = fc.dictionary(
    fc.constantFrom('t-0', 't-1', 'u-0'),
    fc.oneof(fc.array(entry, { maxLength: 16 }), fc.constant('not a list')),
  );

  it('says what the one-array-per-step code said: ranges, count, correlation ids (property)', () => {
    fc.assert(
      fc.property(records, (recordsOf) => {
        const summary = summarizeBatch({ eventSource: 'aws:kafka', records: recordsOf } as never);
        const { byPosition, ...old } = oldSummary(recordsOf);
        expect({
          ranges: summary.ranges,
          records: summary.records,
          correlationIds: summary.correlationIds,
          moreCorrelationIds: summary.moreCorrelationIds,
        }).toEqual(old);
        for (const list of Object.values(recordsOf))
          for (const record of Array.isArray(list) ? list : [])
            if (typeof record === 'object' && record !== null) {
              const position = record as unknown as MSKRecord;
              expect(summary.correlationIdAt(position)).toBe(byPosition.get(positionKey(position)));
            }
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('the UTC day of a time', () => {
  it.each([
    [Number.NaN],
    [Number.POSITIVE_INFINITY],
    [8.64e15 + 1],
    [Date.parse('+010000-01-01T00:00:00Z')],
    [Date.parse('0000-01-01T00:00:00Z') - 1],
  ])('has none for %d, as the Date-based check had none', (ms) => {
    expect(oldCalendarDay(ms)).toBeUndefined();
    expect(calendarDay(ms)).toBeUndefined();
  });

  it('is the day Date gives, for any time, fractions and edges included (property)', () => {
    const first = Date.parse('0000-01-01T00:00:00Z');
    const end = Date.parse('+010000-01-01T00:00:00Z');
    fc.assert(
      fc.property(
        fc.oneof(
          fc.double({ min: -9e15, max: 9e15 }),
          fc.integer({ min: first - 2, max: first + 2 }),
          fc.integer({ min: end - 2, max: end + 2 }),
          fc.double({ min: -2, max: 2 }),
          fc.integer({ min: -3, max: 3 }).map((day) => day * 86_400_000 - 0.5),
        ),
        (ms) => {
          expect(calendarDay(ms)).toBe(oldCalendarDay(ms));
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it("refuses an event's bad date and falls back to the record's, as before", () => {
    const event = { eventId: 'e', type: 'T', timestamp: '2026-13-01T00:00:00Z' };
    expect(dayOf(event, Date.parse('2026-05-06T23:59:59.999Z'))).toBe('2026-05-06');
    expect(dayOf({ ...event, timestamp: '2026-01-01T23:30:00-05:00' }, 0)).toBe('2026-01-02');
    expect(dayOf({ ...event, timestamp: 'yesterday' }, Number.NaN)).toBeUndefined();
  });

  it('reads the day of a plain ISO time from its text, and leaves every other time to Date.parse', () => {
    expect(plainIsoDay('2026-05-06T23:59:59.999Z')).toBe('2026-05-06');
    expect(plainIsoDay('0000-01-01T00:00:00.000Z')).toBe('0000-01-01');
    // Date.parse takes 2026-02-30 as 2026-03-02 and 24:00 as the next day: not plain.
    for (const text of [
      '2026-02-30T00:00:00.000Z',
      '2026-05-29T00:00:00.000Z',
      '2026-05-06T24:00:00.000Z',
      '2026-05-06T23:59:60.000Z',
      '2026-13-01T00:00:00.000Z',
      '2026-05-06T12:00:00Z',
      '2026-05-06T12:00:00.000+01:00',
      '+012026-05-06T12:00:00.000Z',
      '2026-05-06t12:00:00.000Z',
      '2026-05-0xT12:00:00.000Z',
    ])
      expect(plainIsoDay(text), text).toBeUndefined();
  });

  it("is the day Date.parse gives for any event's timestamp, plain or not (property)", () => {
    const oldDayOf = (timestamp: string, recordTimestamp: number) =>
      oldCalendarDay(Date.parse(timestamp)) ?? oldCalendarDay(recordTimestamp);
    const iso = fc
      .integer({
        min: Date.parse('0000-01-01T00:00:00Z'),
        max: Date.parse('9999-12-31T23:59:59.999Z'),
      })
      .map((ms) => new Date(ms).toISOString());
    // One character of an ISO time replaced: digits out of range, separators, anything.
    const altered = fc
      .tuple(iso, fc.nat(23), fc.constantFrom(...'0123456789-:.TZtz+ 9'))
      .map(([text, at, char]) => text.slice(0, at) + char + text.slice(at + 1));
    const twoFields = fc
      .tuple(iso, fc.nat(99), fc.nat(99), fc.constantFrom(5, 8, 11, 14, 17))
      .map(([text, a, b, at]) =>
        `${text.slice(0, at)}${String(a).padStart(2, '0')}${text.slice(at + 2)}`
          .slice(0, 24)
          .padEnd(24, String(b % 10)),
      );
    fc.assert(
      fc.property(
        fc.oneof(iso, altered, twoFields, fc.string({ minLength: 24, maxLength: 24 })),
        fc.oneof(fc.constant(Number.NaN), fc.integer({ min: 0, max: 2e12 })),
        (timestamp, recordTimestamp) => {
          expect(dayOf({ eventId: 'e', type: 'T', timestamp }, recordTimestamp)).toBe(
            oldDayOf(timestamp, recordTimestamp),
          );
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('fails a record only with RecordDecodeError, whatever its bytes (fuzz)', () => {
    fc.assert(
      fc.property(base64ish, base64ish, (key, value) => {
        try {
          decodeRecord(record({ key, value }));
        } catch (error) {
          expect(error).toBeInstanceOf(RecordDecodeError);
        }
      }),
      { numRuns: 1_000 },
    );
  });
});
