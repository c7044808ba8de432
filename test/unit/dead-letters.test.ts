import type { MSKEvent, MSKRecord } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RedisUnavailableError, ValidationError } from '../../lib/errors.ts';
import {
  attemptsKey,
  deadLetterOf,
  deadLetterTopicOf,
  isPermanentFailure,
} from '../../lib/kafka/dead-letters.ts';
import { RecordDecodeError } from '../../lib/lambda/kafka-event.ts';
import * as z from '../../lib/zod.ts';
import { loadAwsFixture } from '../support/fixtures.ts';

const awsRecord = (): MSKRecord => {
  const [record] = Object.values(loadAwsFixture<MSKEvent>('msk-event.json').records)[0] ?? [];
  return record as MSKRecord;
};

const at = new Date('2026-11-27T10:00:00.000Z');

describe('a dead letter', () => {
  it("carries AWS's record byte for byte, where it was, why and after how many attempts", () => {
    const record = awsRecord();
    const error = new RecordDecodeError('value is not JSON', record);

    expect(deadLetterOf(record, { error, attempts: 1, consumer: 'processOrders' }, at)).toEqual({
      source: {
        topic: 'mytopic',
        partition: 0,
        offset: 15,
        timestamp: 1545084650987,
        timestampType: 'CREATE_TIME',
      },
      key: record.key,
      value: record.value,
      headers: [{ name: 'headerKey', value: Buffer.from('headerValue').toString('base64') }],
      error: 'RecordDecodeError: value is not JSON',
      errorType: 'RecordDecodeError',
      attempts: 1,
      consumer: 'processOrders',
      deadLetteredAt: '2026-11-27T10:00:00.000Z',
    });
    expect(deadLetterTopicOf(record.topic)).toBe('mytopic.dlq');
  });

  it('keeps what it can of a malformed record: no key, a header that is not bytes', () => {
    const { key: _key, ...record } = {
      ...awsRecord(),
      headers: [{ good: [104, 105] }, { bad: [300] }] as Array<Record<string, number[]>>,
    };

    const letter = deadLetterOf(record as never, { error: 'boom', attempts: 2, consumer: 'c' }, at);

    expect(letter.key).toBeNull();
    expect(letter.headers).toEqual([
      { name: 'good', value: Buffer.from('hi').toString('base64') },
      { name: 'bad', value: null },
    ]);
    expect(letter).toMatchObject({ error: 'string: boom', errorType: 'string', attempts: 2 });
  });

  it('gives back the exact bytes of any key, value and headers (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 256 }),
        fc.array(
          fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.uint8Array({ maxLength: 16 })),
          {
            maxLength: 4,
          },
        ),
        (key, value, headers) => {
          const record = {
            ...awsRecord(),
            key: Buffer.from(key).toString('base64'),
            value: Buffer.from(value).toString('base64'),
            headers: headers.map(([name, bytes]) => ({ [name]: [...bytes] })),
          };

          const letter = deadLetterOf(record, {
            error: new Error('x'),
            attempts: 1,
            consumer: 'c',
          });

          expect(Buffer.from(letter.key ?? '', 'base64').equals(Buffer.from(key))).toBe(true);
          expect(Buffer.from(letter.value ?? '', 'base64').equals(Buffer.from(value))).toBe(true);
          expect(
            letter.headers.map(({ name, value: bytes }) => [
              name,
              [...Buffer.from(bytes ?? '', 'base64')],
            ]),
          ).toEqual(headers.map(([name, bytes]) => [name, [...bytes]]));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('which failures are permanent (dead-lettered at once)', () => {
  it('a record that does not decode, or a value that is not what the topic carries', () => {
    const notAnOrder = z.object({ orderId: z.string() });
    const thrown = (() => {
      try {
        return z.parse(notAnOrder, {});
      } catch (error) {
        return error;
      }
    })();

    expect(
      isPermanentFailure(new RecordDecodeError('bad', { topic: 't', partition: 0, offset: 1 })),
    ).toBe(true);
    expect(isPermanentFailure(new ValidationError('orderId must be ...'))).toBe(true);
    expect(isPermanentFailure(thrown)).toBe(true);
    expect(isPermanentFailure(notAnOrder.safeParse({}).error)).toBe(true);
  });

  it('not an outage or an unexpected error: those are retried first', () => {
    expect(isPermanentFailure(new RedisUnavailableError('down'))).toBe(false);
    expect(isPermanentFailure(new Error('payment provider timed out'))).toBe(false);
    expect(isPermanentFailure('a string')).toBe(false);
  });
});

describe('attempt counts', () => {
  it('are kept per consumer and record, the record told by its position and timestamp', () => {
    expect(
      attemptsKey('processOrders', {
        topic: 'orders',
        partition: 2,
        offset: 17,
        timestamp: 1_764_230_400_000,
      }),
    ).toBe('dlq:attempts:processOrders:orders:2:17:1764230400000');
    expect(attemptsKey('processOrders', { topic: 'orders', partition: 2, offset: 17 })).toBe(
      'dlq:attempts:processOrders:orders:2:17:none',
    );
  });
});
