import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { MSKEvent } from 'aws-lambda';
import type { IHeaders } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { batchItemFailures } from '../../lib/lambda/batch-response.ts';
import { decodeKafkaEvent } from '../../lib/lambda/kafka-event.ts';
import {
  type BridgeEvent,
  FunctionInvocationError,
  FunctionNotFoundError,
  type InProcessHandler,
  inProcessInvoker,
  type KafkaEventPayload,
  type KafkaEventRecord,
  type KafkaMapping,
  MappingConfigError,
  type MskBridge,
  type MskBridgeOptions,
  offlineInvoker,
  readMappings,
  silentLog,
  startMskBridge,
} from '../../local/msk-bridge/index.ts';
import { loadAwsFixture } from '../support/fixtures.ts';
import { consumeMessages, testKafka, testProducer, uniqueTopic } from '../support/kafka.ts';

// The bridge against the real broker with real kafkajs consumers; functions are in-process
// handlers that record what they get. Each test has its own topic and consumer group.

const stack = inject('stack');
const kafka = testKafka(stack.kafkaBrokers);
const admin = kafka.admin();
const producer = testProducer(kafka);
const topics: string[] = [];
const bridges: MskBridge[] = [];

beforeAll(async () => {
  await Promise.all([admin.connect(), producer.connect()]);
});

afterAll(async () => {
  await Promise.allSettled(bridges.map((bridge) => bridge.stop()));
  await producer.disconnect();
  if (topics.length > 0) await admin.deleteTopics({ topics });
  await admin.disconnect();
});

// --- helpers -----------------------------------------------------------------------------

const newTopic = async (name: string, partitions = 1): Promise<string> => {
  const topic = uniqueTopic(`msk-bridge.${name}`);
  await admin.createTopics({
    topics: [{ topic, numPartitions: partitions }],
    waitForLeaders: true,
  });
  topics.push(topic);
  return topic;
};

const FUNCTION = 'narad-services-test-consumer';

const mappingFor = (topic: string, overrides: Partial<KafkaMapping> = {}): KafkaMapping => ({
  id: 'consumer#0',
  functionKey: 'consumer',
  functionName: FUNCTION,
  eventSource: 'aws:kafka',
  eventSourceArn: 'arn:aws:kafka:us-east-1:000000000000:cluster/narad-test/00000000-1',
  topic,
  consumerGroupId: `test-msk-bridge-${randomUUID()}`,
  batchSize: 10,
  batchingWindowMs: 50,
  startingPosition: 'TRIM_HORIZON',
  reportBatchItemFailures: true,
  enabled: true,
  ...overrides,
});

/** Starts a bridge on the local broker with in-process handlers; stopped after the file. */
const startBridge = async (
  mappings: KafkaMapping[],
  handlers: Record<string, InProcessHandler>,
  options: Partial<MskBridgeOptions> = {},
): Promise<MskBridge> => {
  const bridge = await startMskBridge({
    brokers: stack.kafkaBrokers,
    mappings,
    invoke: inProcessInvoker(handlers),
    log: silentLog,
    retryBackoff: { initialMs: 20, maxMs: 50 },
    fetchMaxWaitMs: 100,
    ...options,
  });
  bridges.push(bridge);
  return bridge;
};

const produce = async (
  topic: string,
  messages: { key?: string; value: unknown; headers?: IHeaders; partition?: number }[],
) => {
  await producer.send({
    topic,
    messages: messages.map(({ value, ...rest }) => ({ ...rest, value: JSON.stringify(value) })),
  });
};

const recordsOf = (event: KafkaEventPayload): KafkaEventRecord[] =>
  Object.values(event.records).flat();
const offsetsOf = (event: KafkaEventPayload): number[] =>
  recordsOf(event).map(({ offset }) => offset);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

const deferred = <T = void>() => {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
};

/** Resolves once the bridge has committed `offset` (or beyond) for the partition. */
const committedTo = (bridge: MskBridge, partition: number, offset: number): Promise<void> =>
  new Promise((resolve) => {
    const off = bridge.on((event) => {
      if (event.type === 'commit' && event.partition === partition && event.offset >= offset) {
        off();
        resolve();
      }
    });
  });

/** The group's committed offsets per partition, as the broker has them (-1: none). */
const committedOffsets = async (groupId: string, topic: string): Promise<Map<number, number>> => {
  const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map(
    (result?.partitions ?? []).map(({ partition, offset }) => [partition, Number(offset)]),
  );
};

/** Polls `probe` to observe state that has no event of its own; never a readiness sleep. */
const waitFor = async (probe: () => Promise<boolean> | boolean, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await delay(25);
  }
};

const typeOf = (value: unknown) => (Array.isArray(value) ? 'array' : typeof value);

// --- the mappings in serverless.yml ---------------------------------------------------------

describe('readMappings (resolved serverless config)', () => {
  const arn = 'arn:aws:kafka:us-east-1:000000000000:cluster/narad-local/0000-1';
  const resolved = {
    service: 'narad-services',
    provider: { stage: 'dev', region: 'us-east-1' },
    functions: {
      health: { name: 'narad-services-dev-health', events: [{ httpApi: { path: '/health' } }] },
      processOrders: {
        name: 'narad-services-dev-processOrders',
        events: [
          {
            msk: {
              arn,
              topic: 'orders',
              batchSize: 50,
              maximumBatchingWindow: 1,
              startingPosition: 'LATEST',
              consumerGroupId: 'narad-services-dev-process-orders',
            },
          },
        ],
      },
      audit: {
        events: [
          {
            kafka: {
              bootstrapServers: ['b-1:9092'],
              topic: 'system.events',
              accessConfigurations: {},
            },
          },
          { msk: { arn, topic: 'orders', maximumBatchingWindow: 0, enabled: false } },
        ],
      },
    },
    resources: {
      extensions: {
        ProcessOrdersEventSourceMappingMSKNaradlocalOrders: {
          Properties: { FunctionResponseTypes: ['ReportBatchItemFailures'] },
        },
      },
    },
  };

  it('reads one mapping per msk/kafka event, with the values and defaults a deploy would get', () => {
    const mappings = readMappings(resolved);

    expect(mappings.map(({ id }) => id)).toEqual(['processOrders#0', 'audit#0', 'audit#1']);
    expect(mappings[0]).toMatchObject({
      functionName: 'narad-services-dev-processOrders',
      eventSource: 'aws:kafka',
      eventSourceArn: arn,
      topic: 'orders',
      consumerGroupId: 'narad-services-dev-process-orders',
      batchSize: 50,
      batchingWindowMs: 1000,
      startingPosition: 'LATEST',
      reportBatchItemFailures: true,
      enabled: true,
    });
    // A kafka event: SelfManagedKafka, no ARN; osls leaves AWS's defaults (100, 500 ms, TRIM_HORIZON).
    expect(mappings[1]).toMatchObject({
      functionName: 'narad-services-dev-audit',
      eventSource: 'SelfManagedKafka',
      batchSize: 100,
      batchingWindowMs: 500,
      startingPosition: 'TRIM_HORIZON',
      reportBatchItemFailures: false,
    });
    expect(mappings[1]).not.toHaveProperty('eventSourceArn');
    expect(mappings[1]?.notes?.[0]).toMatch(/ReportBatchItemFailures is not enabled/);
    // osls drops maximumBatchingWindow: 0, so AWS applies its 500 ms default.
    expect(mappings[2]).toMatchObject({ batchingWindowMs: 500, enabled: false });
  });

  it('reads MaximumRetryAttempts and a kafka:// on-failure destination of the mapping, as Lambda applies them', () => {
    const withErrorHandling = structuredClone(resolved);
    const mapping = 'ProcessOrdersEventSourceMappingMSKNaradlocalOrders';
    withErrorHandling.resources.extensions[mapping] = {
      Properties: {
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        MaximumRetryAttempts: 3,
        DestinationConfig: { OnFailure: { Destination: 'kafka://orders.dlq' } },
      },
    } as never;
    const unbounded = structuredClone(withErrorHandling);
    (
      unbounded.resources.extensions[mapping] as { Properties: Record<string, unknown> }
    ).Properties.MaximumRetryAttempts = -1;

    expect(readMappings(withErrorHandling)[0]).toMatchObject({
      maxRetryAttempts: 3,
      onFailureTopic: 'orders.dlq',
    });
    // With a destination, Lambda bounds "forever" to 10 retries.
    expect(readMappings(unbounded)[0]).toMatchObject({
      maxRetryAttempts: 10,
      onFailureTopic: 'orders.dlq',
    });
    // Without either, retries are unbounded, as an MSK mapping without MaximumRetryAttempts.
    expect(readMappings(resolved)[0]).not.toHaveProperty('maxRetryAttempts');
    expect(readMappings(resolved)[0]).not.toHaveProperty('onFailureTopic');
  });

  it('names the function when an event cannot be played', () => {
    const broken = structuredClone(resolved);
    broken.functions.processOrders.events[0] = {
      msk: { arn, topic: 'orders', batchSize: 0.5 },
    } as never;

    expect(() => readMappings(broken)).toThrow(MappingConfigError);
    expect(() => readMappings(broken)).toThrow(/processOrders: batchSize/);
  });
});

// --- the event -------------------------------------------------------------------------------

describe('the event a function receives', () => {
  it('has exactly the shape of an aws:kafka event, and decodes back to what was produced', async () => {
    const topic = await newTopic('shape');
    const fixture = loadAwsFixture<MSKEvent>('msk-event.json');
    const fixtureRecord = Object.values(fixture.records)[0]?.[0] as unknown as Record<
      string,
      unknown
    >;
    const msk = mappingFor(topic);
    const selfManaged = mappingFor(topic, {
      id: 'consumer#1',
      functionName: 'self-managed',
      eventSource: 'SelfManagedKafka',
      eventSourceArn: undefined,
    });
    const received = {
      msk: deferred<KafkaEventPayload>(),
      selfManaged: deferred<KafkaEventPayload>(),
    };
    await produce(topic, [
      {
        key: 'order-1',
        value: { orderId: 'order-1', total: 12.5 },
        headers: { 'correlation-id': 'c-1', 'x-trace': 'é' },
      },
      { value: { orderId: 'order-2', total: 3 } },
    ]);

    await startBridge([msk, selfManaged], {
      [FUNCTION]: (event) => received.msk.resolve(event),
      'self-managed': (event) => received.selfManaged.resolve(event),
    });
    const event = await received.msk.promise;

    expect(Object.keys(event)).toEqual(Object.keys(fixture));
    expect(event).toMatchObject({
      eventSource: 'aws:kafka',
      eventSourceArn: msk.eventSourceArn,
      bootstrapServers: stack.kafkaBrokers,
    });
    expect(Object.keys(event.records)).toEqual([`${topic}-0`]);
    const [keyed, keyless] = recordsOf(event);
    expect(Object.keys(keyed ?? {})).toEqual(Object.keys(fixtureRecord));
    for (const [name, value] of Object.entries(keyed ?? {})) {
      expect(typeOf(value), name).toBe(typeOf(fixtureRecord[name]));
    }
    expect(keyed?.headers).toEqual([
      { 'correlation-id': [...Buffer.from('c-1')] },
      { 'x-trace': [...Buffer.from('é')] },
    ]);
    expect(keyed?.timestampType).toBe('CREATE_TIME');
    expect(Math.abs((keyed?.timestamp ?? 0) - Date.now())).toBeLessThan(60_000);
    // No key: the property is absent, as in AWS's own examples.
    expect(Object.keys(keyless ?? {})).toEqual(
      Object.keys(fixtureRecord).filter((k) => k !== 'key'),
    );

    const decoded = [...decodeKafkaEvent(event as MSKEvent).values()].flat();
    expect(decoded.map((entry) => (entry.ok ? entry.record : entry.error))).toMatchObject([
      {
        topic,
        partition: 0,
        offset: 0,
        key: 'order-1',
        value: { orderId: 'order-1', total: 12.5 },
        headers: { 'correlation-id': 'c-1', 'x-trace': 'é' },
      },
      { offset: 1, key: null, value: { orderId: 'order-2', total: 3 }, headers: {} },
    ]);

    const selfManagedEvent = await received.selfManaged.promise;
    expect(Object.keys(selfManagedEvent)).toEqual(['eventSource', 'bootstrapServers', 'records']);
    expect(selfManagedEvent.eventSource).toBe('SelfManagedKafka');
    expect(selfManagedEvent.records).toEqual(event.records);
  });
});

// --- batching and order ----------------------------------------------------------------------

describe('batches', () => {
  it('hold at most batchSize records, and every record is delivered once', async () => {
    const topic = await newTopic('batch-size', 3);
    await produce(
      topic,
      range(0, 25).map((n) => ({ key: `user-${n % 7}`, value: { n } })),
    );
    const sizes: number[] = [];
    const delivered: string[] = [];
    const mapping = mappingFor(topic, { batchSize: 10 });
    const all = deferred();

    const bridge = await startBridge([mapping], {
      [FUNCTION]: (event) => {
        sizes.push(recordsOf(event).length);
        delivered.push(
          ...recordsOf(event).map(({ partition, offset }) => `${partition}@${offset}`),
        );
        if (delivered.length >= 25) all.resolve();
      },
    });
    await all.promise;
    await waitFor(async () => {
      const committed = await committedOffsets(mapping.consumerGroupId, topic);
      return [...committed.values()].reduce((sum, offset) => sum + Math.max(offset, 0), 0) === 25;
    });

    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
    expect(delivered).toHaveLength(25);
    expect(new Set(delivered).size).toBe(25);
    expect(bridge.stats()[mapping.id]).toMatchObject({ received: 25, delivered: 25, failures: 0 });
  });

  it('keep each partition in offset order, one invocation per partition at a time', async () => {
    const topic = await newTopic('order', 3);
    for (let round = 0; round < 3; round += 1) {
      await produce(
        topic,
        range(0, 30).map((n) => ({ value: { round, n }, partition: n % 3 })),
      );
    }
    const seen = new Map<number, number[]>();
    const active = new Set<number>();
    let overlaps = 0;
    let total = 0;
    const all = deferred();

    await startBridge([mappingFor(topic, { batchSize: 7, batchingWindowMs: 20 })], {
      [FUNCTION]: async (event) => {
        const partitions = [...new Set(recordsOf(event).map(({ partition }) => partition))];
        for (const partition of partitions) {
          if (active.has(partition)) overlaps += 1;
          active.add(partition);
        }
        for (const { partition, offset } of recordsOf(event)) {
          seen.set(partition, [...(seen.get(partition) ?? []), offset]);
        }
        await delay(5); // the function's work: gives a second invocation the chance to overlap
        for (const partition of partitions) active.delete(partition);
        total += recordsOf(event).length;
        if (total >= 90) all.resolve();
      },
    });
    await all.promise;

    expect(overlaps).toBe(0);
    expect([...seen.keys()].sort()).toEqual([0, 1, 2]);
    for (const offsets of seen.values()) expect(offsets).toEqual(range(0, 30));
  });
});

// --- failures --------------------------------------------------------------------------------

describe('a failed invocation', () => {
  it('is retried with the same records, and nothing is committed before it succeeds', async () => {
    const topic = await newTopic('retry');
    await produce(
      topic,
      range(0, 5).map((n) => ({ value: { n } })),
    );
    const mapping = mappingFor(topic);
    const attempts: number[][] = [];
    const thirdAttempt = deferred();
    const release = deferred();

    const bridge = await startBridge([mapping], {
      [FUNCTION]: async (event) => {
        attempts.push(offsetsOf(event));
        if (attempts.length < 3) throw new Error('downstream unavailable');
        thirdAttempt.resolve();
        await release.promise;
      },
    });
    await thirdAttempt.promise;
    const whileFailing = await committedOffsets(mapping.consumerGroupId, topic);
    const committed = committedTo(bridge, 0, 5);
    release.resolve();
    await committed;

    expect(whileFailing.get(0)).toBe(-1);
    expect(attempts).toEqual([range(0, 5), range(0, 5), range(0, 5)]);
    expect((await committedOffsets(mapping.consumerGroupId, topic)).get(0)).toBe(5);
    expect(bridge.stats()[mapping.id]).toMatchObject({ invocations: 3, failures: 2, retries: 2 });
  });

  it('after maxRetries goes to onRetriesExhausted, then the mapping moves on', async () => {
    const topic = await newTopic('exhausted');
    await produce(
      topic,
      range(0, 3).map((n) => ({ value: { n } })),
    );
    const mapping = mappingFor(topic);
    const exhausted = deferred<{ offsets: number[]; error: Error; attempts: number }>();
    let calls = 0;

    const bridge = await startBridge(
      [mapping],
      {
        [FUNCTION]: () => {
          calls += 1;
          throw new Error('poison');
        },
      },
      {
        maxRetries: 2,
        onRetriesExhausted: (records, error, { attempts }) =>
          exhausted.resolve({ offsets: records.map(({ offset }) => offset), error, attempts }),
      },
    );
    const committed = committedTo(bridge, 0, 3);
    const given = await exhausted.promise;
    await committed;

    expect(calls).toBe(3);
    expect(given.offsets).toEqual([0, 1, 2]);
    expect(given.attempts).toBe(3);
    expect(given.error).toBeInstanceOf(FunctionInvocationError);
    expect(given.error.message).toMatch(/poison/);
    expect(bridge.stats()[mapping.id]).toMatchObject({ skipped: 3 });
  });
});

const sourceOffset = (letter: unknown) => (letter as { source: { offset: number } }).source.offset;

describe("a mapping's on-failure topic", () => {
  it("gets the records after the mapping's MaximumRetryAttempts, as dead letters with their original bytes", async () => {
    const topic = await newTopic('on-failure');
    const deadLetters = `${topic}.dlq`;
    topics.push(deadLetters);
    await produce(
      topic,
      range(0, 3).map((n) => ({
        key: `k${n}`,
        value: { n },
        headers: { 'x-correlation-id': `c${n}` },
      })),
    );
    const mapping = mappingFor(topic, { maxRetryAttempts: 2, onFailureTopic: deadLetters });
    let calls = 0;

    const bridge = await startBridge([mapping], {
      [FUNCTION]: () => {
        calls += 1;
        throw new Error('the function crashed');
      },
    });
    await committedTo(bridge, 0, 3);
    // Keyed by the original keys, so spread over the topic's partitions: put back in order.
    const letters = (await consumeMessages(stack.kafkaBrokers, deadLetters, 3)).sort(
      (a, b) => sourceOffset(a.value) - sourceOffset(b.value),
    );

    expect(calls).toBe(3);
    expect(bridge.stats()[mapping.id]).toMatchObject({ skipped: 3 });
    expect(letters.map(({ key }) => key)).toEqual(['k0', 'k1', 'k2']);
    expect(letters.map(({ headers }) => headers['x-correlation-id'])).toEqual(['c0', 'c1', 'c2']);
    expect(letters[1]?.value).toMatchObject({
      source: { topic, partition: 0, offset: 1 },
      key: Buffer.from('k1').toString('base64'),
      value: Buffer.from(JSON.stringify({ n: 1 })).toString('base64'),
      headers: [{ name: 'x-correlation-id', value: Buffer.from('c1').toString('base64') }],
      errorType: 'FunctionInvocationError',
      error: expect.stringContaining('the function crashed'),
      attempts: 3,
      consumer: FUNCTION,
    });
  });
});

describe('a partition whose function keeps failing', () => {
  it('does not hold up the other partitions', async () => {
    const topic = await newTopic('isolation', 2);
    await produce(
      topic,
      range(0, 15).map((n) => ({ value: { n }, partition: 0 })),
    );
    const mapping = mappingFor(topic, { batchSize: 5, batchingWindowMs: 20 });
    const failing = deferred();

    const bridge = await startBridge([mapping], {
      [FUNCTION]: (event) => {
        if (recordsOf(event).some(({ partition }) => partition === 0)) {
          failing.resolve();
          throw new Error('partition 0 is poisoned');
        }
      },
    });
    await failing.promise;
    // Partition 0 now has a batch in retry and two more queued: its fetching is paused.
    await produce(
      topic,
      range(0, 3).map((n) => ({ value: { n }, partition: 1 })),
    );
    await committedTo(bridge, 1, 3);
    const committed = await committedOffsets(mapping.consumerGroupId, topic);
    await bridge.stop();

    expect(committed.get(0)).toBe(-1);
    expect(committed.get(1)).toBe(3);
  });
});

describe('a partial batch response', () => {
  it('commits the records before the failed offset and redelivers from it', async () => {
    const topic = await newTopic('partial', 2);
    await produce(topic, [
      ...range(0, 10).map((n) => ({ value: { n }, partition: 0 })),
      ...range(0, 4).map((n) => ({ value: { n }, partition: 1 })),
    ]);
    const mapping = mappingFor(topic, { batchSize: 20, batchingWindowMs: 200 });
    const deliveries: string[] = [];
    const calls: number[][] = [];
    const redelivered = deferred();
    const release = deferred();

    const bridge = await startBridge([mapping], {
      [FUNCTION]: async (event) => {
        const records = recordsOf(event);
        deliveries.push(...records.map(({ partition, offset }) => `${partition}@${offset}`));
        const offsets = records
          .filter(({ partition }) => partition === 0)
          .map(({ offset }) => offset);
        if (offsets.length > 0) calls.push(offsets);
        if (calls.length === 1 && offsets.length > 0) {
          return batchItemFailures([{ topic, partition: 0, offset: offsets[4] ?? -1 }]);
        }
        if (offsets.length > 0) {
          redelivered.resolve();
          await release.promise;
        }
        return batchItemFailures([]);
      },
    });
    await redelivered.promise;
    await waitFor(
      async () => (await committedOffsets(mapping.consumerGroupId, topic)).get(0) === 4,
    );
    const done = committedTo(bridge, 0, 10);
    release.resolve();
    await done;
    await waitFor(
      async () => (await committedOffsets(mapping.consumerGroupId, topic)).get(1) === 4,
    );

    // Partition 0: 0..3 were done and committed; 4 failed, so 4..9 came again. Partition 1,
    // not named in the response, was done at the first invocation.
    expect(calls).toEqual([range(0, 10), range(4, 10)]);
    const timesDelivered = (position: string) => deliveries.filter((d) => d === position).length;
    for (const offset of range(0, 10))
      expect(timesDelivered(`0@${offset}`)).toBe(offset < 4 ? 1 : 2);
    for (const offset of range(0, 4)) expect(timesDelivered(`1@${offset}`)).toBe(1);
    expect(bridge.stats()[mapping.id]).toMatchObject({ partialFailures: 1, failures: 0 });
  });

  it('that is not in the Kafka object form retries the whole batch', async () => {
    const topic = await newTopic('invalid-partial');
    await produce(
      topic,
      range(0, 6).map((n) => ({ value: { n } })),
    );
    const mapping = mappingFor(topic);
    const calls: number[][] = [];
    const failures: BridgeEvent[] = [];
    const secondCall = deferred();
    const release = deferred();

    const bridge = await startBridge(
      [mapping],
      {
        [FUNCTION]: async (event) => {
          calls.push(offsetsOf(event));
          // The SQS / Kinesis form: a string itemIdentifier means nothing to a Kafka mapping.
          if (calls.length === 1) return { batchItemFailures: [{ itemIdentifier: '2' }] };
          secondCall.resolve();
          await release.promise;
          return undefined;
        },
      },
      { onEvent: (event) => event.type === 'failure' && failures.push(event) },
    );
    await secondCall.promise;
    const beforeSuccess = await committedOffsets(mapping.consumerGroupId, topic);
    const done = committedTo(bridge, 0, 6);
    release.resolve();
    await done;

    expect(calls).toEqual([range(0, 6), range(0, 6)]);
    expect(beforeSuccess.get(0)).toBe(-1);
    expect(failures).toMatchObject([
      { type: 'failure', error: { name: 'InvalidBatchResponseError' } },
    ]);
  });

  it('naming the old "topic-partition" key fails the whole batch: every record redelivered, nothing committed, then the on-failure topic', async () => {
    const topic = await newTopic('old-key');
    const deadLetters = `${topic}.dlq`;
    topics.push(deadLetters);
    await produce(
      topic,
      range(0, 6).map((n) => ({ key: `k${n}`, value: { n } })),
    );
    const mapping = mappingFor(topic, { maxRetryAttempts: 2, onFailureTopic: deadLetters });
    const calls: number[][] = [];
    const committedDuringCalls: Array<number | undefined> = [];
    const order: string[] = [];

    const bridge = await startBridge(
      [mapping],
      {
        [FUNCTION]: async (event) => {
          calls.push(offsetsOf(event));
          committedDuringCalls.push(
            (await committedOffsets(mapping.consumerGroupId, topic)).get(0),
          );
          // The key an earlier version of this project used: Lambda reads only "partition".
          return {
            batchItemFailures: [{ itemIdentifier: { 'topic-partition': `${topic}-0`, offset: 2 } }],
          };
        },
      },
      { onEvent: (event) => order.push(event.type) },
    );
    await committedTo(bridge, 0, 6);

    // The first invocation and MaximumRetryAttempts (2) retries, each with the whole batch.
    expect(calls).toEqual([range(0, 6), range(0, 6), range(0, 6)]);
    expect(committedDuringCalls).toEqual([-1, -1, -1]);
    expect(order.filter((type) => type !== 'ready')).toEqual([
      'invoke',
      'failure',
      'invoke',
      'failure',
      'invoke',
      'failure',
      'skip',
      'commit',
    ]);
    expect(bridge.stats()[mapping.id]).toMatchObject({ partialFailures: 0, skipped: 6 });
    const letters = (await consumeMessages(stack.kafkaBrokers, deadLetters, 6)).sort(
      (a, b) => sourceOffset(a.value) - sourceOffset(b.value),
    );
    expect(letters.map(({ key }) => key)).toEqual(range(0, 6).map((n) => `k${n}`));
    expect(letters[0]?.value).toMatchObject({
      source: { topic, partition: 0, offset: 0 },
      errorType: 'InvalidBatchResponseError',
      error: expect.stringMatching(/"topic-partition".*"partition"/),
      attempts: 3,
    });
  });
});

// --- stopping --------------------------------------------------------------------------------

describe('stop()', () => {
  it('waits for the invocation in flight and commits it', async () => {
    const topic = await newTopic('stop-in-flight');
    await produce(
      topic,
      range(0, 3).map((n) => ({ value: { n } })),
    );
    const mapping = mappingFor(topic);
    const entered = deferred();
    const release = deferred();
    const order: string[] = [];

    const bridge = await startBridge([mapping], {
      [FUNCTION]: async () => {
        entered.resolve();
        await release.promise;
        order.push('function returned');
      },
    });
    await entered.promise;
    const stopped = bridge.stop().then(() => order.push('stopped'));
    const early = await Promise.race([stopped.then(() => 'stopped'), delay(300, 'still waiting')]);
    release.resolve();
    await stopped;

    expect(early).toBe('still waiting');
    expect(order).toEqual(['function returned', 'stopped']);
    expect((await committedOffsets(mapping.consumerGroupId, topic)).get(0)).toBe(3);
  });

  it('leaves the group; a new bridge with the same group resumes after the last commit', async () => {
    const topic = await newTopic('resume');
    await produce(
      topic,
      range(0, 10).map((n) => ({ value: { n } })),
    );
    const mapping = mappingFor(topic, { batchSize: 5 });
    const first: number[] = [];
    const second: number[] = [];

    const bridge = await startBridge([mapping], {
      [FUNCTION]: (event) => {
        first.push(...offsetsOf(event));
      },
    });
    await committedTo(bridge, 0, 10);
    await bridge.stop();
    const { groups } = await admin.describeGroups([mapping.consumerGroupId]);
    await produce(
      topic,
      range(10, 15).map((n) => ({ value: { n } })),
    );
    const resumed = await startBridge([mapping], {
      [FUNCTION]: (event) => {
        second.push(...offsetsOf(event));
      },
    });
    await committedTo(resumed, 0, 15);

    expect(groups[0]).toMatchObject({ state: 'Empty', members: [] });
    expect(first).toEqual(range(0, 10));
    expect(second).toEqual(range(10, 15));
  });
});

// --- serverless-offline's Invoke API ---------------------------------------------------------

describe('offlineInvoker', () => {
  // The global setup's serverless offline serves this repo's functions; its Lambda endpoint is
  // on the HTTP port + 2.
  const lambdaUrl = `http://127.0.0.1:${Number(new URL(inject('apiUrl')).port) + 2}`;
  const event: KafkaEventPayload = {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:us-east-1:000000000000:cluster/narad-test/1',
    bootstrapServers: stack.kafkaBrokers,
    records: {},
  };

  it('returns what the function returned', async () => {
    const result = await offlineInvoker({ lambdaUrl })('narad-services-dev-health', event);

    expect(result).toMatchObject({ statusCode: expect.any(Number), body: expect.any(String) });
  });

  it('reports a function that does not exist', async () => {
    await expect(
      offlineInvoker({ lambdaUrl })('narad-services-dev-no-such-function', event),
    ).rejects.toBeInstanceOf(FunctionNotFoundError);
  });
});
