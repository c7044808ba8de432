import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  batchItemFailures,
  type InvokedBatch,
  readKafkaBatchResponse,
} from '../../lib/lambda/batch-response.ts';

/**
 * Property-based tests of the partial-batch response parser (the Middy habit: every parser gets
 * a fuzz test). Whatever a function returns, the parser answers a decision and never throws;
 * a response naming anything but records of the batch in Lambda's Kafka form fails the whole
 * batch; and what our builder emits is always read back as the records it names.
 */

const RUNS = { numRuns: 1000 };

const topics = fc.stringMatching(/^[a-zA-Z0-9._-]{1,20}$/);

/** An invoked batch: a few partitions, each with a few distinct offsets. */
const batches = fc
  .dictionary(
    fc.tuple(topics, fc.nat(20)).map(([topic, partition]) => `${topic}-${partition}`),
    fc.uniqueArray(fc.nat(1_000_000), { minLength: 1, maxLength: 8 }),
    { minKeys: 1, maxKeys: 4 },
  )
  .map(
    (partitions): InvokedBatch => ({
      records: Object.fromEntries(
        Object.entries(partitions).map(([key, offsets]) => [
          key,
          offsets.map((offset) => ({ offset })),
        ]),
      ),
    }),
  );

const isInBatch = (batch: InvokedBatch, partition: unknown, offset: unknown) =>
  typeof partition === 'string' &&
  Object.hasOwn(batch.records, partition) &&
  (batch.records[partition] ?? []).some((record) => record.offset === offset);

/** An itemIdentifier that is anything but exactly {partition: string, offset: integer}. */
const nonConformingIdentifiers = fc.oneof(
  fc.anything(),
  fc.string(),
  fc.record({ 'topic-partition': fc.string(), offset: fc.integer() }),
  fc
    .record({
      partition: fc.string(),
      offset: fc.oneof(fc.string(), fc.double(), fc.constant(null)),
    })
    .filter(({ offset }) => !Number.isSafeInteger(offset)),
  fc.record({
    partition: fc.anything().filter((p) => typeof p !== 'string'),
    offset: fc.integer(),
  }),
  fc.record({ partition: fc.string(), offset: fc.integer(), extra: fc.anything() }),
  fc.record({ partition: fc.string() }),
  fc.record({ offset: fc.integer() }),
);

describe('readKafkaBatchResponse, fuzzed', () => {
  it('never throws, whatever the function returned', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true, withSet: true }),
          fc.record({ batchItemFailures: fc.anything() }),
          fc.record({ batchItemFailures: fc.array(fc.anything()) }),
          fc.record({ batchItemFailures: fc.array(fc.record({ itemIdentifier: fc.anything() })) }),
        ),
        batches,
        (response, batch) => {
          const decision = readKafkaBatchResponse(response, batch);

          expect(['success', 'partial', 'invalid']).toContain(decision.kind);
          if (decision.kind === 'invalid') expect(decision.reason.length).toBeLessThan(800);
        },
      ),
      RUNS,
    );
  });

  it('fails the whole batch when any entry is not a record of the batch in the Kafka form', () => {
    fc.assert(
      fc.property(
        batches,
        fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 4 }),
        nonConformingIdentifiers,
        fc.nat(),
        (batch, validPicks, bad, at) => {
          const keys = Object.keys(batch.records);
          const valid = validPicks.map(([k, o]) => {
            const partition = keys[k % keys.length] as string;
            const offsets = batch.records[partition] ?? [];
            return { itemIdentifier: { partition, offset: offsets[o % offsets.length]?.offset } };
          });
          const entries: unknown[] = [...valid];
          entries.splice(at % (valid.length + 1), 0, { itemIdentifier: bad });

          const decision = readKafkaBatchResponse({ batchItemFailures: entries }, batch);

          expect(decision.kind).toBe('invalid');
        },
      ),
      RUNS,
    );
  });

  it('fails the whole batch for a well-formed identifier naming a record outside the batch', () => {
    fc.assert(
      fc.property(batches, fc.string(), fc.integer(), (batch, partition, offset) => {
        fc.pre(!isInBatch(batch, partition, offset));

        const decision = readKafkaBatchResponse(
          { batchItemFailures: [{ itemIdentifier: { partition, offset } }] },
          batch,
        );

        expect(decision.kind).toBe('invalid');
      }),
      RUNS,
    );
  });

  it('reads what batchItemFailures builds as a partial failure from the lowest offset per partition', () => {
    fc.assert(
      fc.property(
        batches,
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 }),
        (batch, picks) => {
          const keys = Object.keys(batch.records);
          const positions = picks.map(([k, o]) => {
            const key = keys[k % keys.length] as string;
            const offsets = batch.records[key] ?? [];
            const [, topic = '', partition = '0'] = key.match(/^(.*)-(\d+)$/) ?? [];
            return {
              topic,
              partition: Number(partition),
              offset: offsets[o % offsets.length]?.offset ?? -1,
            };
          });
          const lowest = new Map<string, number>();
          for (const { topic, partition, offset } of positions) {
            const key = `${topic}-${partition}`;
            lowest.set(key, Math.min(lowest.get(key) ?? offset, offset));
          }

          expect(readKafkaBatchResponse(batchItemFailures(positions), batch)).toEqual({
            kind: 'partial',
            redeliverFrom: lowest,
          });
        },
      ),
      RUNS,
    );
  });
});
