import { describe, expect, it } from 'vitest';
import { batchItemFailures } from '../../lib/lambda/batch-response.ts';
import type { KafkaEventPayload, KafkaEventRecord } from '../../lib/lambda/kafka-event-builder.ts';
import { silentLog } from '../../local/msk-bridge/log.ts';
import { MappingEngine } from '../../local/msk-bridge/mapping-engine.ts';
import type { OnRetriesExhausted, PlayedMapping } from '../../local/msk-bridge/types.ts';

// The mapping engine (local/msk-bridge/mapping-engine.ts) over records pushed by hand, as the
// bridge's consumer group or embedded Kafka's log push them: what is committed when, what is
// invoked again, and what goes to the on-failure destination. No broker, no timers waited on.

const mapping: PlayedMapping = {
  id: 'consumer#0',
  functionKey: 'consumer',
  functionName: 'narad-services-dev-consumer',
  eventSource: 'aws:kafka',
  eventSourceArn: 'arn:aws:kafka:::cluster/c/1',
  topic: 'orders',
  batchSize: 3,
  batchingWindowMs: 0,
  reportBatchItemFailures: true,
};

const records = (partition: number, offsets: number[]): KafkaEventRecord[] =>
  offsets.map((offset) => ({
    topic: 'orders',
    partition,
    offset,
    timestamp: 0,
    timestampType: 'CREATE_TIME',
    headers: [],
  }));

const offsetsOf = (event: KafkaEventPayload) =>
  Object.values(event.records).flatMap((list) => list.map(({ offset }) => offset));

/** An engine whose invocations the test answers one by one, in the order they arrive. */
const engineWith = ({
  maxRetries = 2,
  onRetriesExhausted = async () => undefined,
}: {
  maxRetries?: number;
  onRetriesExhausted?: OnRetriesExhausted;
} = {}) => {
  const invoked: number[][] = [];
  const committed: string[] = [];
  const answers: Array<(answer: unknown) => void> = [];
  let arrived: () => void = () => undefined;
  const engine = new MappingEngine({
    mapping,
    invoke: (_, event) => {
      invoked.push(offsetsOf(event));
      arrived();
      return new Promise((resolve, reject) =>
        answers.push((answer) => (answer instanceof Error ? reject(answer) : resolve(answer))),
      );
    },
    bootstrapServers: 'b-1:9092',
    maxRetries,
    retryDelayMs: () => 0,
    onRetriesExhausted,
    commit: async (offsets) => {
      committed.push(...offsets.map(({ partition, offset }) => `${partition}@${offset}`));
    },
    log: silentLog,
    emit: () => undefined,
  });
  /** Answers the oldest pending invocation once it has arrived. */
  const answer = async (value: unknown) => {
    while (answers.length === 0) await new Promise<void>((resolve) => (arrived = resolve));
    answers.shift()?.(value);
  };
  return { engine, invoked, committed, answer };
};

describe('the mapping engine', () => {
  it('commits a batch only after the function succeeded, past its last record', async () => {
    const { engine, invoked, committed, answer } = engineWith();

    engine.push(0, records(0, [5, 6]), 6);
    await Promise.resolve();
    const beforeAnswer = [...committed];
    await answer({});
    await engine.idle();
    await engine.stop();

    expect(invoked).toEqual([[5, 6]]);
    expect(beforeAnswer).toEqual([]);
    expect(committed).toEqual(['0@7']);
  });

  it('keeps one invocation per partition: later records wait for the one in flight, in order', async () => {
    const { engine, invoked, answer } = engineWith();

    engine.push(0, records(0, [0, 1, 2, 3, 4]), 4);
    await answer({});
    await answer({});
    await engine.idle();
    await engine.stop();

    expect(invoked).toEqual([
      [0, 1, 2],
      [3, 4],
    ]);
  });

  it('resumes a partition at the lowest failed offset of a partial response, after committing what came before', async () => {
    const { engine, invoked, committed, answer } = engineWith();

    engine.push(0, records(0, [10, 11, 12]), 12);
    await answer(
      batchItemFailures([
        { topic: 'orders', partition: 0, offset: 12 },
        { topic: 'orders', partition: 0, offset: 11 },
      ]),
    );
    await answer({});
    await engine.idle();
    await engine.stop();

    expect(invoked).toEqual([
      [10, 11, 12],
      [11, 12],
    ]);
    expect(committed).toEqual(['0@11', '0@13']);
  });

  it('retries a batch whose response is invalid as a whole, then hands all of it to the on-failure destination', async () => {
    const given: Array<{ offsets: number[]; attempts: number; error: string }> = [];
    const { engine, invoked, committed, answer } = engineWith({
      maxRetries: 2,
      onRetriesExhausted: async (failed, error, { attempts }) => {
        given.push({ offsets: failed.map(({ offset }) => offset), attempts, error: error.name });
      },
    });
    const invalid = { batchItemFailures: [{ itemIdentifier: 'orders-0:10' }] };

    engine.push(0, records(0, [10, 11]), 11);
    await answer(invalid);
    await answer(invalid);
    await answer(invalid);
    await engine.idle();
    await engine.stop();

    expect(invoked).toEqual([
      [10, 11],
      [10, 11],
      [10, 11],
    ]);
    expect(given).toEqual([{ offsets: [10, 11], attempts: 3, error: 'InvalidBatchResponseError' }]);
    expect(committed).toEqual(['0@12']);
  });

  it('keeps the records, uncommitted, while the on-failure destination refuses them', async () => {
    let refusals = 0;
    const { engine, invoked, committed, answer } = engineWith({
      maxRetries: 0,
      onRetriesExhausted: async () => {
        refusals += 1;
        if (refusals === 1) throw new Error('the dead-letter topic is down');
      },
    });

    engine.push(0, records(0, [1]), 1);
    await answer(new Error('handler threw'));
    await answer(new Error('handler threw'));
    await engine.idle();
    await engine.stop();

    expect(invoked).toEqual([[1], [1]]);
    expect(refusals).toBe(2);
    expect(committed).toEqual(['0@2']);
  });

  it('ignores records the source sends again (below what it already read)', async () => {
    const { engine, invoked, answer } = engineWith();

    engine.push(0, records(0, [0, 1]), 1);
    engine.push(0, records(0, [0, 1, 2]), 2);
    await answer({});
    await answer({});
    await engine.idle();
    await engine.stop();

    expect(invoked).toEqual([[0, 1], [2]]);
    expect(engine.stats()).toMatchObject({ received: 3, invocations: 2, commits: 2 });
  });
});
