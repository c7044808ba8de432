import type { MSKEvent, MSKRecord } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors.ts';
import { decodeKafkaEvent, decodeRecord, RecordDecodeError } from '../../lib/lambda/kafka-event.ts';
import { loadAwsFixture, loadEvent } from '../support/fixtures.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('decoding an MSK event', () => {
  it("decodes AWS's documented record: base64 key and JSON value, byte-array headers", () => {
    const event = loadAwsFixture<MSKEvent>('msk-event.json');

    const partitions = decodeKafkaEvent(event);

    expect([...partitions.keys()]).toEqual(['mytopic-0']);
    expect(partitions.get('mytopic-0')).toEqual([
      {
        ok: true,
        record: {
          topic: 'mytopic',
          partition: 0,
          offset: 15,
          timestamp: 1545084650987,
          timestampType: 'CREATE_TIME',
          key: 'recordKey',
          value: { key: 'value' },
          headers: { headerKey: 'headerValue' },
          rawValue: 'eyJrZXkiOiJ2YWx1ZSJ9',
        },
      },
    ]);
  });

  it('decodes the self-managed Kafka variant the same way', () => {
    const event = loadAwsFixture<MSKEvent>('self-managed-kafka-event.json');
    const [record] = decodeKafkaEvent(event).get('mytopic-0') ?? [];
    expect(record).toMatchObject({
      ok: true,
      record: { key: 'recordKey', value: { key: 'value' } },
    });
  });

  it('decodes every sample event in events/ with its correlation id header', () => {
    for (const name of [
      'msk-orders.json',
      'msk-user-events.json',
      'self-managed-kafka-user-events.json',
    ]) {
      for (const records of decodeKafkaEvent(loadEvent<MSKEvent>(name)).values()) {
        for (const decoded of records) {
          expect(decoded.ok, name).toBe(true);
          if (decoded.ok)
            expect(decoded.record.headers['x-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
        }
      }
    }
  });

  it("orders each partition's records by offset, whatever order they arrived in", () => {
    const event = loadEvent<MSKEvent>('msk-user-events.json');
    const records = event.records['user.events-1'] ?? [];
    event.records['user.events-1'] = [...records].reverse();

    const offsets = decodeKafkaEvent(event)
      .get('user.events-1')
      ?.map((decoded) => (decoded.ok ? decoded.record.offset : -1));

    expect(offsets).toEqual([40, 41]);
  });

  it('rejects a malformed record with its own error and keeps the others', () => {
    const event = loadEvent<MSKEvent>('msk-user-events.json');
    const records = event.records['user.events-1'] as MSKRecord[];
    (records[0] as MSKRecord).value = b64('{"eventId": ');

    const [bad, good] = decodeKafkaEvent(event).get('user.events-1') ?? [];

    expect(bad).toMatchObject({
      ok: false,
      position: { topic: 'user.events', partition: 1, offset: 40 },
    });
    expect(bad?.ok === false && bad.error).toBeInstanceOf(RecordDecodeError);
    expect(bad?.ok === false && bad.error.message).toMatch(/^value is not JSON/);
    expect(good?.ok).toBe(true);
  });

  it.each([
    ['value is not valid base64', { value: 'not base64!' }],
    ['value is not valid UTF-8', { value: Buffer.from([0xff, 0xfe, 0x7b]).toString('base64') }],
    ['key is not valid base64', { key: '***' }],
    ['header "h" is not a byte array', { headers: [{ h: [300] }] }],
    ['value is not JSON', { value: b64('{"__proto__": {"admin": true}}') }],
  ])('says "%s" for such a record', (message, override) => {
    const record = {
      ...structuredClone(loadAwsFixture<MSKEvent>('msk-event.json').records['mytopic-0']?.[0]),
      ...override,
    };
    expect(() => decodeRecord(record as MSKRecord)).toThrowError(
      expect.objectContaining({ message: expect.stringContaining(message) }),
    );
  });

  it.each([
    ['plainly', '{"__proto__": {"admin": true}}'],
    ['with an escaped underscore', '{"\\u005f_proto__": {"admin": true}}'],
    ['with an escaped letter', '{"__pro\\u0074o__": {"admin": true}}'],
    [
      'nested, fully escaped',
      '{"a": {"\\u005f\\u005f\\u0070\\u0072\\u006f\\u0074\\u006f\\u005f\\u005f": 1}}',
    ],
  ])('refuses a value with a __proto__ key written %s', (_how, json) => {
    const record = {
      ...structuredClone(loadAwsFixture<MSKEvent>('msk-event.json').records['mytopic-0']?.[0]),
      value: b64(json),
    };
    expect(() => decodeRecord(record as MSKRecord)).toThrowError(
      /value is not JSON \(the key "__proto__" is not allowed\)/,
    );
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('reads escapes in a value that spell no __proto__ key as they are', () => {
    const record = {
      ...structuredClone(loadAwsFixture<MSKEvent>('msk-event.json').records['mytopic-0']?.[0]),
      value: b64('{"name": "caf\\u00e9", "note": "__proto__ is only text here"}'),
    };
    expect(decodeRecord(record as MSKRecord).value).toEqual({
      name: 'café',
      note: '__proto__ is only text here',
    });
  });

  it('reads a record without a value (a tombstone) as a null value', () => {
    const record = structuredClone(
      loadAwsFixture<MSKEvent>('msk-event.json').records['mytopic-0']?.[0],
    ) as Partial<MSKRecord>;
    delete record.value;
    expect(decodeRecord(record as MSKRecord).value).toBeNull();
  });

  it('refuses an event that is not a Kafka event at all', () => {
    expect(() => decodeKafkaEvent({ eventSource: 'aws:sqs', records: {} } as never)).toThrowError(
      ValidationError,
    );
    expect(() => decodeKafkaEvent({ eventSource: 'aws:kafka' } as never)).toThrowError(/records/);
  });

  it('round-trips any JSON value without a __proto__ key, any key and header (property)', () => {
    const jsonWithoutProto = fc
      .jsonValue()
      .filter((value) => !JSON.stringify(value).includes('"__proto__"'));
    fc.assert(
      fc.property(jsonWithoutProto, fc.string(), fc.string(), (value, key, header) => {
        const record: MSKRecord = {
          topic: 't',
          partition: 0,
          offset: 1,
          timestamp: 0,
          timestampType: 'CREATE_TIME',
          key: b64(key),
          value: b64(JSON.stringify(value)),
          headers: [{ h: [...Buffer.from(header)] }],
        };
        const decoded = decodeRecord(record);
        expect(decoded.value).toEqual(JSON.parse(JSON.stringify(value)));
        expect(decoded.key).toBe(Buffer.from(b64(key), 'base64').toString());
        expect(decoded.headers.h).toBe(Buffer.from(header).toString());
      }),
      { numRuns: 300 },
    );
  });

  it('fails only with RecordDecodeError on arbitrary input (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.array(fc.integer({ min: -5, max: 300 })),
        (value, key, bytes) => {
          const record = {
            topic: 't',
            partition: 0,
            offset: 1,
            timestamp: 0,
            timestampType: 'CREATE_TIME',
            key,
            value,
            headers: [{ h: bytes }],
          };
          try {
            decodeRecord(record as MSKRecord);
          } catch (error) {
            expect(error).toBeInstanceOf(RecordDecodeError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
