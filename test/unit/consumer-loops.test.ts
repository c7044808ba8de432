import type { MSKEvent, MSKRecord, SelfManagedKafkaEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../../lib/errors.ts';
import type { Settlement } from '../../lib/kafka/dead-letters.ts';
import type { KafkaService } from '../../lib/kafka/producer.ts';
import {
  type ClaimedBatch,
  handleClaimedInOrder,
} from '../../lib/lambda/consumer/claimed-in-order.ts';
import { handleRecordsInOrder } from '../../lib/lambda/consumer/in-order.ts';
import { kafkaConsumer } from '../../lib/lambda/consumer/kafka-consumer.ts';
import type { RecordFailure } from '../../lib/lambda/consumer/record-failure.ts';
import { handleBatchAtOnce, type PartitionSlice } from '../../lib/lambda/consumer/whole-batch.ts';
import { RecordDecodeError } from '../../lib/lambda/kafka-event.ts';
import { loadAwsFixture } from '../support/fixtures.ts';

// The three loops of a consumer, and the one call that wires them, driven by AWS's own event
// fixture (test/fixtures/aws/msk-event.json): its record is cloned to the partitions and
// offsets a test needs, as Powertools' batch tests build their events from one sample.

const TOPIC = 'mytopic';
const base64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');

/** A value per offset, per partition: `{0: {15: {n: 1}}}`; a string is put in as raw base64. */
type Layout = Record<number, Record<number, unknown>>;

const eventOf = (layout: Layout, fixture = 'msk-event.json'): MSKEvent => {
  const sample = loadAwsFixture<MSKEvent>(fixture);
  const [template] = Object.values(sample.records)[0] as MSKRecord[];
  const records: MSKEvent['records'] = {};
  for (const [partition, values] of Object.entries(layout)) {
    records[`${TOPIC}-${partition}`] = Object.entries(values).map(([offset, value]) => ({
      ...structuredClone(template as MSKRecord),
      topic: TOPIC,
      partition: Number(partition),
      offset: Number(offset),
      value: typeof value === 'string' ? value : base64(value),
    }));
  }
  return { ...sample, records };
};

const failure = (partition: number, offset: number) => ({
  itemIdentifier: { partition: `${TOPIC}-${partition}`, offset },
});

const deadLettered: Settlement = { outcome: 'dead-lettered', attempts: 1, topic: 'mytopic.dlq' };

describe('the in-order loop', () => {
  it('handles the records of a partition in offset order, whatever their order in the event', async () => {
    const event = eventOf({ 0: { 17: { n: 3 }, 15: { n: 1 }, 16: { n: 2 } } });
    const handled: number[] = [];

    const response = await handleRecordsInOrder(event, async (record) => {
      handled.push(record.offset);
    });

    expect(handled).toEqual([15, 16, 17]);
    expect(response).toEqual({ batchItemFailures: [] });
  });

  it('runs partitions side by side: one waiting on a record does not hold up the other', async () => {
    const event = eventOf({ 0: { 15: { n: 1 } }, 1: { 40: { n: 2 } } });
    let releaseFirst: () => void = () => undefined;
    const firstWaits = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });

    // Partition 0's record finishes only once partition 1's has started: in sequence, this
    // would never resolve.
    const response = await handleRecordsInOrder(event, async (record) => {
      if (record.partition === 0) await firstWaits;
      else releaseFirst();
    });

    expect(response).toEqual({ batchItemFailures: [] });
  });

  it('stops a partition at its first failed record and reports that offset; other partitions go on', async () => {
    const event = eventOf({
      0: { 15: { n: 1 }, 16: { n: 2 }, 17: { n: 3 } },
      1: { 40: {}, 41: {} },
    });
    const handled: string[] = [];
    const failures: RecordFailure[] = [];
    const boom = new Error('Redis refused');

    const response = await handleRecordsInOrder(
      event,
      async (record) => {
        if (record.partition === 0 && record.offset === 16) throw boom;
        handled.push(`${record.partition}:${record.offset}`);
      },
      (one) => failures.push(one),
    );

    expect(handled.sort()).toEqual(['0:15', '1:40', '1:41']);
    expect(response).toEqual({ batchItemFailures: [failure(0, 16)] });
    expect(failures).toEqual([
      { position: { topic: TOPIC, partition: 0, offset: 16 }, error: boom },
    ]);
  });

  it('goes on with the partition when the failed record is dead-lettered', async () => {
    const event = eventOf({ 0: { 15: {}, 16: {}, 17: {} } });
    const handled: number[] = [];
    const settled: number[] = [];

    const response = await handleRecordsInOrder(
      event,
      async (record) => {
        if (record.offset === 16) throw new ValidationError('not an order');
        handled.push(record.offset);
      },
      () => undefined,
      {
        deadLetters: async (source) => {
          settled.push(source.offset);
          return deadLettered;
        },
      },
    );

    expect(handled).toEqual([15, 17]);
    expect(settled).toEqual([16]);
    expect(response).toEqual({ batchItemFailures: [] });
  });

  it('settles a record that does not decode without handing it to the handler, and says why it was kept', async () => {
    const event = eventOf({ 0: { 15: {}, 16: 'bm90IGpzb24=', 17: {} } });
    const handled: number[] = [];
    const failures: RecordFailure[] = [];

    const response = await handleRecordsInOrder(
      event,
      async (record) => {
        handled.push(record.offset);
      },
      (one) => failures.push(one),
      { deadLetters: async () => ({ outcome: 'retry', reason: 'attempt 1 of 5' }) },
    );

    expect(handled).toEqual([15]);
    expect(response).toEqual({ batchItemFailures: [failure(0, 16)] });
    expect(failures[0]?.error).toBeInstanceOf(RecordDecodeError);
    expect(failures[0]?.reason).toBe('attempt 1 of 5');
  });

  it('calls afterWrite after each handled record; a throw there fails the whole invocation', async () => {
    const event = eventOf({ 0: { 15: {}, 16: {} } });
    const written: number[] = [];

    await expect(
      handleRecordsInOrder(event, async () => undefined, undefined, {
        hooks: {
          afterWrite: ([position]) => {
            written.push(position?.offset ?? -1);
            if (position?.offset === 16) throw new Error('killed after the write');
          },
        },
      }),
    ).rejects.toThrow('killed after the write');
    expect(written).toEqual([15, 16]);
  });

  it('refuses an event that is not a Kafka event, handling nothing', async () => {
    const event = { ...eventOf({ 0: { 15: {} } }), eventSource: 'aws:sqs' } as unknown as MSKEvent;
    let handled = 0;

    await expect(
      handleRecordsInOrder(event, async () => {
        handled += 1;
      }),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(handled).toBe(0);
  });
});

describe('the whole-batch loop', () => {
  it("gives apply one slice per partition: the event's cluster, the offset range, the records in order", async () => {
    const event = eventOf({ 0: { 16: { n: 2 }, 15: { n: 1 } }, 1: { 40: { n: 3 } } });
    const applied: PartitionSlice<unknown>[][] = [];

    const response = await handleBatchAtOnce(event, async (slices) => {
      applied.push(slices);
    });

    expect(applied).toHaveLength(1);
    const slices = applied[0] ?? [];
    expect(slices.map(({ records, ...range }) => range)).toEqual([
      {
        cluster: event.eventSourceArn,
        topic: TOPIC,
        partition: 0,
        firstOffset: 15,
        lastOffset: 16,
      },
      {
        cluster: event.eventSourceArn,
        topic: TOPIC,
        partition: 1,
        firstOffset: 40,
        lastOffset: 40,
      },
    ]);
    expect(slices[0]?.records.map((record) => record.value)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(response).toEqual({ batchItemFailures: [] });
  });

  it('names the cluster of a self-managed Kafka event by its bootstrap servers', async () => {
    const event = eventOf({ 0: { 15: {} } }, 'self-managed-kafka-event.json');
    let cluster: string | undefined;

    await handleBatchAtOnce(event as unknown as SelfManagedKafkaEvent, async (slices) => {
      cluster = slices[0]?.cluster;
    });

    expect(cluster).toBe(event.bootstrapServers);
  });

  it('dead-letters the unusable records after apply, in offset order; the range still covers them', async () => {
    const event = eventOf({ 0: { 15: { type: 'A' }, 16: { wrong: true }, 17: 'bm90IGpzb24=' } });
    const steps: string[] = [];

    const response = await handleBatchAtOnce(
      event,
      async (slices) => {
        steps.push(
          `apply ${slices.map((s) => `${s.firstOffset}-${s.lastOffset}:${s.records.length}`)}`,
        );
      },
      undefined,
      {
        problemOf: (value) => ((value as { type?: unknown }).type ? undefined : 'no type'),
        deadLetters: async (source, error) => {
          steps.push(`dead-letter ${source.offset} ${(error as Error).name}`);
          return deadLettered;
        },
      },
    );

    expect(steps).toEqual([
      'apply 15-17:1',
      'dead-letter 16 ValidationError',
      'dead-letter 17 RecordDecodeError',
    ]);
    expect(response).toEqual({ batchItemFailures: [] });
  });

  it('reports the first unusable record it cannot dead-letter, and tries none after it in that partition', async () => {
    const event = eventOf({ 0: { 15: 'eA==', 16: 'eQ==', 17: {} } });
    const tried: number[] = [];

    const response = await handleBatchAtOnce(event, async () => undefined, undefined, {
      deadLetters: async (source) => {
        tried.push(source.offset);
        return { outcome: 'retry', reason: 'Kafka is not configured' };
      },
    });

    expect(tried).toEqual([15]);
    expect(response).toEqual({ batchItemFailures: [failure(0, 15)] });
  });

  it('fails the invocation when apply throws, dead-lettering nothing', async () => {
    const event = eventOf({ 0: { 15: 'eA==', 16: {} } });
    let deadLetters = 0;

    await expect(
      handleBatchAtOnce(
        event,
        async () => {
          throw new Error('Redis script failed');
        },
        undefined,
        {
          deadLetters: async () => {
            deadLetters += 1;
            return deadLettered;
          },
        },
      ),
    ).rejects.toThrow('Redis script failed');
    expect(deadLetters).toBe(0);
  });
});

describe('the claimed-in-order loop', () => {
  /** A domain that records what the loop asks of it; `throwsAt` offsets fail their run. */
  const domain = (throwsAt: number[] = []) => {
    const seen = { claimed: [] as number[], ran: [] as number[], released: [] as number[] };
    const calls: string[] = [];
    const batch: ClaimedBatch<number> = {
      run: async (offset) => {
        seen.ran.push(offset);
        if (throwsAt.includes(offset)) throw new Error(`step failed at ${offset}`);
      },
      release: (offsets) => {
        seen.released.push(...offsets);
      },
      finish: async () => {
        calls.push('finish');
      },
    };
    const work = {
      parse: (record: { offset: number; value: unknown }) => {
        if (record.value === null || typeof record.value !== 'object' || 'bad' in record.value) {
          throw new ValidationError('not a thing');
        }
        return record.offset;
      },
      claim: async (offsets: number[]) => {
        calls.push('claim');
        seen.claimed.push(...offsets);
        return batch;
      },
    };
    return { seen, calls, work };
  };

  it('claims every usable record of every partition at once, runs each partition in offset order, then finishes once', async () => {
    const { seen, calls, work } = domain();
    const event = eventOf({ 0: { 16: {}, 15: {} }, 1: { 40: {}, 41: { bad: true } } });

    const response = await handleClaimedInOrder(event, work, () => undefined, {
      deadLetters: async () => deadLettered,
    });

    expect(calls).toEqual(['claim', 'finish']);
    expect(seen.claimed.sort()).toEqual([15, 16, 40]);
    expect(seen.ran.filter((offset) => offset < 40)).toEqual([15, 16]);
    expect(response).toEqual({ batchItemFailures: [] });
  });

  it('stops a partition at a failed run it cannot dead-letter, reports that offset and releases the usable records after it', async () => {
    const { seen, work } = domain([16]);
    const event = eventOf({ 0: { 15: {}, 16: {}, 17: { bad: true }, 18: {} }, 1: { 40: {} } });
    const failures: RecordFailure[] = [];

    const response = await handleClaimedInOrder(event, work, (f) => failures.push(f));

    expect(response).toEqual({ batchItemFailures: [failure(0, 16)] });
    expect(seen.ran.sort()).toEqual([15, 16, 40]);
    expect(seen.released).toEqual([18]);
    expect(failures.map(({ position }) => position.offset)).toEqual([16]);
  });

  it("settles each partition's first record with the claim's error when the claim throws (Redis out of reach)", async () => {
    const event = eventOf({ 0: { 15: {}, 16: {} }, 1: { 40: {} } });
    const settled: unknown[] = [];

    const response = await handleClaimedInOrder(
      event,
      {
        parse: (record) => record.offset,
        claim: async () => {
          throw new Error('Redis refused');
        },
      },
      () => undefined,
      {
        deadLetters: async (_source, error) => {
          settled.push(error instanceof Error ? error.message : error);
          return { outcome: 'retry', attempts: 1, reason: 'attempt 1 of 5' };
        },
      },
    );

    expect(response).toEqual({ batchItemFailures: [failure(0, 15), failure(1, 40)] });
    expect(settled).toEqual(['Redis refused', 'Redis refused']);
  });

  it('fails the invocation when finishing throws: the writes did not happen, the batch comes back whole', async () => {
    const { work } = domain();
    const claim = work.claim;
    work.claim = async (offsets) => ({
      ...(await claim(offsets)),
      finish: async () => {
        throw new Error('Redis refused the writes');
      },
    });

    await expect(handleClaimedInOrder(eventOf({ 0: { 15: {} } }), work)).rejects.toThrow(
      'Redis refused the writes',
    );
  });

  it('calls afterWrite once, after finishing, with every record handled', async () => {
    const { calls, work } = domain([16]);
    const seen: number[][] = [];

    await handleClaimedInOrder(eventOf({ 0: { 15: {}, 16: {} }, 1: { 40: {} } }), work, undefined, {
      hooks: {
        afterWrite: (positions) => {
          calls.push('afterWrite');
          seen.push(positions.map(({ offset }) => offset).sort());
        },
      },
    });

    expect(calls).toEqual(['claim', 'finish', 'afterWrite']);
    expect(seen).toEqual([[15, 40]]);
  });
});

/** A Kafka service that keeps what is sent (the dead-letter topic), for the wiring only. */
const keepingKafka = () => {
  const sent: Array<{ topic: string; value: unknown }> = [];
  const kafka: KafkaService = {
    send: async (topic, message) => {
      sent.push({ topic, value: message });
      return { topic, count: 1, correlationId: 'c', partitions: [] };
    },
    sendBatch: async (topic, messages) => {
      for (const message of messages) sent.push({ topic, value: message.value });
      return { topic, count: messages.length, correlationId: 'c', partitions: [] };
    },
    connect: async () => undefined,
    isConnected: true,
    disconnect: async () => undefined,
  };
  return { kafka, sent };
};

describe('a consumer built in one call', () => {
  // The handler writes its log lines (checked in log.test.ts); here they would only be noise.
  beforeEach(() => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  it('in order: hands each record and the services to handle, dead-letters what handle refuses, answers the partial-batch response', async () => {
    const { kafka, sent } = keepingKafka();
    const services = { kafka, redis: undefined };
    let servicesRead = 0;
    const seen: Array<{ offset: number; services: unknown }> = [];
    const handler = kafkaConsumer({
      name: 'processThings',
      mode: 'in-order',
      services: () => {
        servicesRead += 1;
        return services;
      },
      handle: async (record, given) => {
        seen.push({ offset: record.offset, services: given });
        if (record.offset === 16) throw new ValidationError('not a thing');
      },
    });

    const response = await handler(eventOf({ 0: { 15: {}, 16: {}, 17: {} } }));

    expect(seen.map(({ offset }) => offset)).toEqual([15, 16, 17]);
    expect(seen.every((one) => one.services === services)).toBe(true);
    expect(servicesRead).toBe(1);
    expect(sent).toEqual([
      {
        topic: 'mytopic.dlq',
        value: expect.objectContaining({ source: expect.objectContaining({ offset: 16 }) }),
      },
    ]);
    expect(response).toEqual({ batchItemFailures: [] });
  });

  it('whole batch: applies the slices with the services, refuses values problemOf rejects', async () => {
    const { kafka, sent } = keepingKafka();
    const applied: number[][] = [];
    const handler = kafkaConsumer<{ type: string }>({
      name: 'countThings',
      mode: 'whole-batch',
      services: () => ({ kafka, redis: undefined }),
      problemOf: (value) => ((value as { type?: unknown }).type ? undefined : 'no type'),
      handle: async (slices, given) => {
        expect(given.kafka).toBe(kafka);
        applied.push(slices.flatMap((slice) => slice.records.map((record) => record.offset)));
      },
    });

    const response = await handler(
      eventOf({ 0: { 15: { type: 'A' }, 16: {}, 17: { type: 'B' } } }),
    );

    expect(applied).toEqual([[15, 17]]);
    expect(sent.map(({ topic }) => topic)).toEqual(['mytopic.dlq']);
    expect(response).toEqual({ batchItemFailures: [] });
  });

  it('reports a failed record for redelivery when it cannot be dead-lettered (no Redis to count attempts)', async () => {
    const handler = kafkaConsumer({
      name: 'processThings',
      mode: 'in-order',
      services: () => ({ kafka: undefined, redis: undefined }),
      handle: async (record) => {
        if (record.offset === 16) throw new Error('Redis refused');
      },
    });

    const response = await handler(eventOf({ 0: { 15: {}, 16: {}, 17: {} } }));

    expect(response).toEqual({ batchItemFailures: [failure(0, 16)] });
  });
});
