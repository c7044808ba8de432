import { describe, expect, it } from 'vitest';
import { batchItemFailures } from '../../lib/lambda/batch-response.ts';
import { buildKafkaEvent } from '../../lib/lambda/kafka-event-builder.ts';
import {
  InvalidBatchResponseError,
  RecordReportedFailedError,
} from '../../local/msk-bridge/errors.ts';
import {
  afterFailedAttempt,
  afterPartialResponse,
  type BatchLimits,
  MAX_PAYLOAD_BYTES,
  nextBatch,
  type QueueView,
  retryDelayMs,
  verdictOf,
} from '../../local/msk-bridge/planner.ts';

// The rules of an event-source mapping, as the MSK bridge and embedded Kafka both play them
// (local/msk-bridge/planner.ts), checked without a broker: AWS Lambda's documented behaviour for
// Kafka mappings (batch size and window, partition order, partial batch responses, retries and
// the on-failure destination).

const NOW = 1_000_000;
const limits: BatchLimits = { batchSize: 10, windowMs: 500 };

const queue = (partition: number, records: number, overrides: Partial<QueueView> = {}) => ({
  partition,
  waiting: Array.from({ length: records }, () => 100),
  since: NOW - 1_000,
  busy: false,
  redeliver: false,
  notBefore: 0,
  ...overrides,
});

const eventOf = (offsets: Record<number, number[]>) =>
  buildKafkaEvent(
    { eventSource: 'aws:kafka', eventSourceArn: 'arn:aws:kafka:::cluster/c/1' },
    'b-1:9092',
    Object.entries(offsets).flatMap(([partition, list]) =>
      list.map((offset) => ({
        topic: 'orders',
        partition: Number(partition),
        offset,
        timestamp: 0,
        timestampType: 'CREATE_TIME' as const,
        headers: [],
      })),
    ),
  );

describe('forming a batch', () => {
  it('takes at most batchSize records, across partitions, the partition waiting longest first', () => {
    const plan = nextBatch(
      [queue(0, 6, { since: NOW - 100 }), queue(1, 8, { since: NOW - 900 })],
      NOW,
      limits,
    );

    expect(plan).toEqual({
      kind: 'invoke',
      take: [
        { partition: 1, count: 8 },
        { partition: 0, count: 2 },
      ],
    });
  });

  it('never takes a partition that has an invocation in flight: one at a time keeps its order', () => {
    const plan = nextBatch([queue(0, 20, { busy: true }), queue(1, 3)], NOW, limits);

    expect(plan).toEqual({ kind: 'invoke', take: [{ partition: 1, count: 3 }] });
  });

  it('waits out the batching window for fewer than batchSize records, then invokes with what there is', () => {
    const fresh = [queue(0, 3, { since: NOW - 100 })];

    expect(nextBatch(fresh, NOW, limits)).toEqual({ kind: 'wait', until: NOW + 400 });
    expect(nextBatch(fresh, NOW + 400, limits)).toEqual({
      kind: 'invoke',
      take: [{ partition: 0, count: 3 }],
    });
  });

  it('invokes a redelivery at once, and holds a partition backing off after a partial failure until its time', () => {
    const redelivery = [queue(0, 2, { since: NOW, redeliver: true })];
    const backingOff = [queue(0, 2, { redeliver: true, notBefore: NOW + 200 })];

    expect(nextBatch(redelivery, NOW, limits)).toMatchObject({ kind: 'invoke' });
    expect(nextBatch(backingOff, NOW, limits)).toEqual({ kind: 'wait', until: NOW + 200 });
  });

  it("stays within Lambda's 6 MB payload, but always takes one record", () => {
    const big = MAX_PAYLOAD_BYTES / 2;

    expect(nextBatch([queue(0, 4, { waiting: [big, big, big, big] })], NOW, limits)).toEqual({
      kind: 'invoke',
      take: [{ partition: 0, count: 1 }],
    });
    expect(
      nextBatch([queue(0, 1, { waiting: [MAX_PAYLOAD_BYTES * 2] })], NOW, limits),
    ).toMatchObject({ kind: 'invoke', take: [{ partition: 0, count: 1 }] });
  });

  it('has nothing to do without records', () => {
    expect(nextBatch([queue(0, 0)], NOW, limits)).toEqual({
      kind: 'wait',
      until: Number.POSITIVE_INFINITY,
    });
  });
});

describe("reading the function's answer", () => {
  const event = eventOf({ 0: [15, 16, 17], 1: [40, 41] });

  it('a return without failures is a success: every record is done', () => {
    expect(verdictOf({ kind: 'returned', response: {} }, event, true)).toEqual({
      kind: 'success',
      ignoredPartialResponse: false,
    });
  });

  it('a partial response redelivers each named partition from its lowest failed offset', () => {
    const response = batchItemFailures([
      { topic: 'orders', partition: 0, offset: 17 },
      { topic: 'orders', partition: 0, offset: 16 },
    ]);

    const verdict = verdictOf({ kind: 'returned', response }, event, true);

    expect(verdict).toEqual({ kind: 'partial', redeliverFrom: new Map([['orders-0', 16]]) });
  });

  it('an invalid partial response fails the whole batch, as a throw does', () => {
    const oldForm = { batchItemFailures: [{ itemIdentifier: { 'topic-partition': 'orders-0' } }] };
    const notInBatch = batchItemFailures([{ topic: 'orders', partition: 0, offset: 99 }]);

    for (const response of [oldForm, notInBatch, 'orders-0']) {
      const verdict = verdictOf({ kind: 'returned', response }, event, true);
      expect(verdict.kind).toBe('failed');
      expect(verdict.kind === 'failed' && verdict.error).toBeInstanceOf(InvalidBatchResponseError);
    }
    const thrown = new Error('handler threw');
    expect(verdictOf({ kind: 'threw', error: thrown }, event, true)).toEqual({
      kind: 'failed',
      error: thrown,
    });
  });

  it('without ReportBatchItemFailures the response is not read: a partial one counts as success', () => {
    const response = batchItemFailures([{ topic: 'orders', partition: 0, offset: 16 }]);

    expect(verdictOf({ kind: 'returned', response }, event, false)).toEqual({
      kind: 'success',
      ignoredPartialResponse: true,
    });
  });
});

describe('after a partial response', () => {
  const part = { topic: 'orders', partition: 0, offsets: [15, 16, 17], failures: 0 };

  it('commits the records before the failed one and redelivers from it', () => {
    const outcome = afterPartialResponse(
      { ...part, failedOffset: undefined },
      new Map([['orders-0', 16]]),
      3,
    );

    expect(outcome).toEqual({
      kind: 'redeliver',
      commit: 16,
      from: 16,
      failures: 1,
      giveUp: undefined,
    });
  });

  it('commits nothing when the first record failed', () => {
    const outcome = afterPartialResponse(
      { ...part, failedOffset: undefined },
      new Map([['orders-0', 15]]),
      3,
    );

    expect(outcome).toMatchObject({ kind: 'redeliver', commit: undefined, from: 15 });
  });

  it('is done with a partition the response does not name: committed past its last record', () => {
    const outcome = afterPartialResponse(
      { ...part, failedOffset: undefined },
      new Map([['orders-1', 40]]),
      3,
    );

    expect(outcome).toEqual({ kind: 'done', commit: 18 });
  });

  it('hands the failed record alone to the on-failure destination once it failed more than maxRetries times in a row', () => {
    const redeliverFrom = new Map([['orders-0', 16]]);
    const third = afterPartialResponse(
      { ...part, failures: 2, failedOffset: 16 },
      redeliverFrom,
      3,
    );
    const fourth = afterPartialResponse(
      { ...part, failures: 3, failedOffset: 16 },
      redeliverFrom,
      3,
    );
    const elsewhere = afterPartialResponse(
      { ...part, failures: 3, failedOffset: 15 },
      redeliverFrom,
      3,
    );

    expect(third).toMatchObject({ failures: 3, giveUp: undefined });
    expect(fourth).toMatchObject({ failures: 4, giveUp: expect.any(RecordReportedFailedError) });
    expect(fourth.kind === 'redeliver' && fourth.giveUp?.message).toBe(
      'the function reported orders-0 offset 16 as failed',
    );
    expect(elsewhere).toMatchObject({ failures: 1, giveUp: undefined });
  });
});

describe('after a whole-batch failure', () => {
  it('retries with the backoff, then hands the batch to the on-failure destination after maxRetries retries', () => {
    const backoff = (retry: number) => retry * 1_000;

    expect(afterFailedAttempt(1, 2, backoff)).toEqual({ giveUp: false, retryInMs: 1_000 });
    expect(afterFailedAttempt(2, 2, backoff)).toEqual({ giveUp: false, retryInMs: 2_000 });
    expect(afterFailedAttempt(3, 2, backoff)).toEqual({ giveUp: true, retryInMs: 3_000 });
  });

  it('backs off 200 ms, doubling each retry, to at most 10 s', () => {
    expect([1, 2, 3, 6, 7, 8, 20].map((retry) => retryDelayMs(retry))).toEqual([
      200, 400, 800, 6_400, 10_000, 10_000, 10_000,
    ]);
    expect(retryDelayMs(3, { initialMs: 20, maxMs: 50 })).toBe(50);
  });
});
