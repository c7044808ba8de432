import { describe, expect, it } from 'vitest';
import {
  batchItemFailures,
  type InvokedBatch,
  readKafkaBatchResponse,
} from '../../lib/lambda/batch-response.ts';
import { loadAwsFixture } from '../support/fixtures.ts';

// What Lambda makes of a Kafka consumer's partial-batch response, and what our consumers return.

/** The batch a function was invoked with: t-0 at offsets 3..5, t-1 at offset 7. */
const batch: InvokedBatch = {
  records: {
    't-0': [{ offset: 3 }, { offset: 4 }, { offset: 5 }],
    't-1': [{ offset: 7 }],
  },
};

const failed = (itemIdentifier: unknown) => ({ batchItemFailures: [{ itemIdentifier }] });

describe('batchItemFailures (what a consumer returns)', () => {
  it('has exactly the shape AWS documents for Kafka', () => {
    expect(batchItemFailures([{ topic: 'mytopic', partition: 0, offset: 15 }])).toEqual(
      loadAwsFixture('kafka-batch-item-failures-response.json'),
    );
  });

  it('names each failed record by its records key and integer offset', () => {
    const response = batchItemFailures([
      { topic: 'user.events', partition: 2, offset: 40 },
      { topic: 'orders-eu', partition: 11, offset: 0 },
    ]);

    expect(response).toEqual({
      batchItemFailures: [
        { itemIdentifier: { partition: 'user.events-2', offset: 40 } },
        { itemIdentifier: { partition: 'orders-eu-11', offset: 0 } },
      ],
    });
  });

  it('is an empty list when nothing failed', () => {
    expect(batchItemFailures([])).toEqual({ batchItemFailures: [] });
  });

  it('is read back by the parser as the records it names', () => {
    const response = batchItemFailures([
      { topic: 't', partition: 0, offset: 4 },
      { topic: 't', partition: 1, offset: 7 },
    ]);

    expect(readKafkaBatchResponse(response, batch)).toEqual({
      kind: 'partial',
      redeliverFrom: new Map([
        ['t-0', 4],
        ['t-1', 7],
      ]),
    });
  });
});

describe('readKafkaBatchResponse (what Lambda makes of a response)', () => {
  it.each([
    ['undefined', undefined],
    ['null', null],
    ['an empty object', {}],
    ['an empty list', { batchItemFailures: [] }],
    ['a null list', { batchItemFailures: null }],
  ])('reads %s as a full success', (_, response) => {
    expect(readKafkaBatchResponse(response, batch)).toEqual({ kind: 'success' });
  });

  it('reads the partition form as a partial failure, redelivering each partition from its lowest named offset', () => {
    const response = {
      batchItemFailures: [
        { itemIdentifier: { partition: 't-0', offset: 5 } },
        { itemIdentifier: { partition: 't-0', offset: 4 } },
      ],
    };

    expect(readKafkaBatchResponse(response, batch)).toEqual({
      kind: 'partial',
      redeliverFrom: new Map([['t-0', 4]]),
    });
  });

  it('reads the corrected AWS fixture as a partial failure of the record it names', () => {
    const fixtureBatch = { records: { 'mytopic-0': [{ offset: 15 }, { offset: 16 }] } };

    expect(
      readKafkaBatchResponse(
        loadAwsFixture('kafka-batch-item-failures-response.json'),
        fixtureBatch,
      ),
    ).toEqual({ kind: 'partial', redeliverFrom: new Map([['mytopic-0', 15]]) });
  });

  it.each([
    [
      'the old "topic-partition" key',
      failed({ 'topic-partition': 't-0', offset: 4 }),
      /has the key "topic-partition" and lacks "partition"/,
    ],
    [
      'another key name',
      failed({ topicPartition: 't-0', offset: 4 }),
      /has the key "topicPartition" and lacks "partition"/,
    ],
    [
      'a key besides partition and offset',
      failed({ partition: 't-0', offset: 4, topic: 't' }),
      /has the key "topic"/,
    ],
    ['no offset', failed({ partition: 't-0' }), /lacks "offset"/],
    [
      'a string offset',
      failed({ partition: 't-0', offset: '4' }),
      /offset is the string "4", not an integer/,
    ],
    ['a float offset', failed({ partition: 't-0', offset: 4.5 }), /offset is 4.5, not an integer/],
    ['a null offset', failed({ partition: 't-0', offset: null }), /offset is null, not an integer/],
    ['a numeric partition', failed({ partition: 0, offset: 4 }), /partition is 0, not a/],
    [
      'a partition not in the batch',
      failed({ partition: 't-2', offset: 4 }),
      /partition "t-2", which was not in the invoked batch \(it held "t-0", "t-1"\)/,
    ],
    [
      'an offset not in the batch',
      failed({ partition: 't-0', offset: 9 }),
      /offset 9 of t-0, which was not in the invoked batch \(t-0 held offsets 3-5\)/,
    ],
    [
      'an offset of another partition of the batch',
      failed({ partition: 't-1', offset: 4 }),
      /t-1 held offset 7/,
    ],
    ['the SQS/Kinesis string form', failed('4'), /"4" \(the SQS\/Kinesis form\)/],
    ['an empty itemIdentifier', failed(''), /itemIdentifier is ""/],
    ['a null itemIdentifier', failed(null), /itemIdentifier is null/],
    [
      'an entry without itemIdentifier',
      { batchItemFailures: [{ partition: 't-0', offset: 4 }] },
      /batchItemFailures\[0\] is/,
    ],
    [
      'a list that is not a list',
      { batchItemFailures: 't-0' },
      /batchItemFailures is "t-0", not a list/,
    ],
    [
      'a list given as an object',
      { batchItemFailures: { 0: failed({ partition: 't-0', offset: 4 }) } },
      /not a list/,
    ],
    ['a response that is a string', 'ok', /the response is "ok", not an object/],
    ['a response that is a list', [], /the response is \[\], not an object/],
  ])('reads %s as a failure of the whole batch, saying why', (_, response, why) => {
    const decision = readKafkaBatchResponse(response, batch);

    expect(decision.kind).toBe('invalid');
    expect(decision.kind === 'invalid' && decision.reason).toMatch(why);
  });

  it('fails the whole batch when one of several entries is wrong, naming that entry', () => {
    const response = {
      batchItemFailures: [
        { itemIdentifier: { partition: 't-0', offset: 4 } },
        { itemIdentifier: { 'topic-partition': 't-1', offset: 7 } },
      ],
    };

    expect(readKafkaBatchResponse(response, batch)).toEqual({
      kind: 'invalid',
      reason: expect.stringMatching(/^batchItemFailures\[1\]\.itemIdentifier/),
    });
  });

  it('does not take a records key from the prototype chain for a partition of the batch', () => {
    expect(
      readKafkaBatchResponse(failed({ partition: 'constructor', offset: 0 }), batch),
    ).toMatchObject({
      kind: 'invalid',
    });
  });
});
