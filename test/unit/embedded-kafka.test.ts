import type { MSKEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ConfigError, ValidationError } from '../../lib/errors.ts';
import { createEmbeddedKafkaService } from '../../lib/kafka/embedded-service.ts';
import { CORRELATION_ID_HEADER } from '../../lib/kafka/record-headers.ts';
import { batchItemFailures } from '../../lib/lambda/batch-response.ts';
import { decodeKafkaEvent } from '../../lib/lambda/kafka-event.ts';
import { startEmbeddedDelivery } from '../../local/embedded/kafka-delivery.ts';
import { EmbeddedKafkaLog } from '../../local/embedded/kafka-log.ts';
import { type EmbeddedMapping, embeddedKafkaSettings } from '../../local/embedded/settings.ts';
import type { Invoke } from '../../local/msk-bridge/types.ts';

const mapping = (overrides: Partial<EmbeddedMapping> = {}): EmbeddedMapping => ({
  functionName: 'narad-services-dev-consumer',
  topic: 'orders',
  batchSize: 10,
  eventSourceArn: 'arn:aws:kafka:us-east-1:000000000000:cluster/narad-local/x',
  reportBatchItemFailures: true,
  maxRetries: 2,
  ...overrides,
});

/** An invoke that decodes every event as a consumer would and lets the test decide the result. */
const recordingInvoke = (answer: (offsets: number[], call: number) => unknown = () => ({})) => {
  const seen: Array<{ partition: string; offsets: number[]; values: unknown[] }> = [];
  const invoke: Invoke = async (_, event) => {
    const decoded = decodeKafkaEvent(event as unknown as MSKEvent);
    const answers: unknown[] = [];
    for (const [partition, records] of decoded) {
      const ok = records.flatMap((one) => (one.ok ? [one.record] : []));
      seen.push({
        partition,
        offsets: ok.map((record) => record.offset),
        values: ok.map((record) => record.value),
      });
      answers.push(
        answer(
          ok.map((record) => record.offset),
          seen.length,
        ),
      );
    }
    const failing = answers.find((one) => one instanceof Error);
    if (failing) throw failing;
    return answers[0];
  };
  return { invoke, seen };
};

describe("embedded Kafka's settings (npm start writes them; lib/config.ts does not read them)", () => {
  it('reads the Lambda endpoint and the mappings', () => {
    const mappings = [mapping()];

    const settings = embeddedKafkaSettings({
      NARAD_EMBEDDED_LAMBDA_URL: 'http://127.0.0.1:3002',
      NARAD_EMBEDDED_MAPPINGS: JSON.stringify(mappings),
    });

    expect(settings).toEqual({ lambdaUrl: 'http://127.0.0.1:3002', mappings });
    expect(embeddedKafkaSettings({})).toEqual({ lambdaUrl: undefined, mappings: [] });
  });

  it.each([
    ['NARAD_EMBEDDED_MAPPINGS', { NARAD_EMBEDDED_MAPPINGS: '[{' }, /must be JSON/],
    [
      'NARAD_EMBEDDED_MAPPINGS',
      { NARAD_EMBEDDED_MAPPINGS: '[{"topic":"orders"}]' },
      /NARAD_EMBEDDED_MAPPINGS/,
    ],
    ['NARAD_EMBEDDED_LAMBDA_URL', { NARAD_EMBEDDED_LAMBDA_URL: 'ftp://x' }, /must be an http URL/],
  ])('refuses a bad %s with an error naming it', (variable, env, message) => {
    let error: unknown;
    try {
      embeddedKafkaSettings(env);
    } catch (thrown) {
      error = thrown;
    }

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(message);
  });
});

describe('the embedded Kafka service', () => {
  it('refuses what the real producer refuses, before anything is written', async () => {
    const log = new EmbeddedKafkaLog();
    const kafka = createEmbeddedKafkaService(log);

    await expect(kafka.send('bad topic!', 1)).rejects.toBeInstanceOf(ValidationError);
    await expect(kafka.sendBatch('orders', [])).rejects.toBeInstanceOf(ValidationError);
    await expect(kafka.send('orders', [1] as never)).rejects.toBeInstanceOf(ValidationError);

    expect(log.topicNames()).toEqual([]);
  });

  it('keeps one key on one partition, in the order sent, with the correlation id header', async () => {
    const log = new EmbeddedKafkaLog();
    const kafka = createEmbeddedKafkaService(log);

    for (let i = 0; i < 5; i++) {
      await kafka.send('orders', { i }, { key: 'order-1', correlationId: 'c-1' });
    }

    const partitions = log.endOffsets('orders');
    expect(partitions.filter((count) => count > 0)).toEqual([5]);
    const partition = partitions.indexOf(5);
    const records = log.read('orders', partition, 0, 10);
    expect(records.map((record) => JSON.parse(String(record.value)))).toEqual(
      [0, 1, 2, 3, 4].map((i) => ({ i })),
    );
    expect(String(records[0]?.headers?.[CORRELATION_ID_HEADER])).toBe('c-1');
  });
});

describe('embedded delivery to the mapped functions', () => {
  it('delivers each partition in offset order, in batches of at most batchSize', async () => {
    const log = new EmbeddedKafkaLog();
    const { invoke, seen } = recordingInvoke();
    const delivery = startEmbeddedDelivery({ log, mappings: [mapping({ batchSize: 4 })], invoke });

    await createEmbeddedKafkaService(log).sendBatch(
      'orders',
      Array.from({ length: 10 }, (_, i) => ({ key: 'same-key', value: { i } })),
    );
    await delivery.idle();

    expect(seen.every((batch) => batch.offsets.length <= 4)).toBe(true);
    expect(seen.flatMap((batch) => batch.values)).toEqual(
      Array.from({ length: 10 }, (_, i) => ({ i })),
    );
  });

  it('resumes from the failed offset of a partial-batch response, without redelivering what succeeded', async () => {
    const log = new EmbeddedKafkaLog(1);
    const { invoke, seen } = recordingInvoke((_offsets, call) =>
      call === 1 ? batchItemFailures([{ topic: 'orders', partition: 0, offset: 2 }]) : {},
    );
    const delivery = startEmbeddedDelivery({
      log,
      mappings: [mapping()],
      invoke,
      retryDelayMs: () => 0,
    });

    log.append(
      'orders',
      [0, 1, 2, 3, 4].map((i) => ({ value: JSON.stringify({ i }) })),
    );
    await delivery.idle();

    expect(seen.map((batch) => batch.offsets)).toEqual([
      [0, 1, 2, 3, 4],
      [2, 3, 4],
    ]);
  });

  it('retries the whole batch when the response names the old "topic-partition" key, then moves it to <topic>.dlq', async () => {
    const log = new EmbeddedKafkaLog(1);
    const { invoke, seen } = recordingInvoke((_offsets, call) =>
      call <= 3
        ? { batchItemFailures: [{ itemIdentifier: { 'topic-partition': 'orders-0', offset: 2 } }] }
        : {},
    );
    const delivery = startEmbeddedDelivery({
      log,
      mappings: [mapping({ maxRetries: 2 })],
      invoke,
      retryDelayMs: () => 0,
    });

    log.append(
      'orders',
      [0, 1, 2, 3, 4].map((i) => ({ key: `k${i}`, value: JSON.stringify({ i }) })),
    );
    await delivery.idle();
    log.append('orders', [{ key: 'k5', value: JSON.stringify({ i: 5 }) }]);
    await delivery.idle();

    // Every attempt got the whole batch (nothing before offset 2 was taken as done); after
    // the first invocation and its 2 retries the batch went to the DLQ and the partition went on.
    expect(seen.map((batch) => batch.offsets)).toEqual([
      [0, 1, 2, 3, 4],
      [0, 1, 2, 3, 4],
      [0, 1, 2, 3, 4],
      [5],
    ]);
    const dead = log.read('orders.dlq', 0, 0, 10).map((record) => JSON.parse(String(record.value)));
    expect(dead.map((letter) => letter.source.offset)).toEqual([0, 1, 2, 3, 4]);
    expect(dead[0]).toMatchObject({
      attempts: 3,
      error: expect.stringMatching(/"topic-partition".*"partition"/),
    });
  });

  it('moves a batch that keeps failing to <topic>.dlq after maxRetries, and goes on with the partition', async () => {
    const log = new EmbeddedKafkaLog(1);
    const { invoke, seen } = recordingInvoke((offsets) =>
      offsets.includes(0) ? new Error('poison') : {},
    );
    const delivery = startEmbeddedDelivery({
      log,
      mappings: [mapping({ batchSize: 1, maxRetries: 2 })],
      invoke,
      retryDelayMs: () => 0,
    });

    log.append('orders', [{ key: 'k', value: JSON.stringify('poison') }]);
    log.append('orders', [{ key: 'k', value: JSON.stringify({ after: true }) }]);
    await delivery.idle();

    expect(seen.map((batch) => batch.offsets)).toEqual([[0], [0], [0], [1]]);
    const [dead] = log.read('orders.dlq', 0, 0, 10);
    expect(JSON.parse(String(dead?.value))).toMatchObject({
      error: expect.stringContaining('poison'),
      attempts: 3,
      source: { topic: 'orders', partition: 0, offset: 0 },
      value: Buffer.from('"poison"').toString('base64'),
    });
  });

  it('delivers records appended while an invocation is in flight', async () => {
    const log = new EmbeddedKafkaLog(1);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const offsets: number[] = [];
    const delivery = startEmbeddedDelivery({
      log,
      mappings: [mapping()],
      invoke: async (_, event) => {
        for (const records of Object.values(event.records)) {
          offsets.push(...records.map((record) => record.offset));
        }
        await gate;
        return {};
      },
    });

    log.append('orders', [{ value: '1' }]);
    log.append('orders', [{ value: '2' }]);
    release();
    await delivery.idle();

    expect(offsets).toEqual([0, 1]);
  });
});
