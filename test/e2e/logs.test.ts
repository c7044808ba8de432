import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { APIGatewayProxyEventV2, MSKEvent, MSKRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadEvent } from '../support/fixtures.ts';
import { runServerless } from '../support/serverless-cli.ts';

// serverless offline's output is not the tests' to read, but `serverless invoke local` runs the
// same bundles with the same environment and hands over stdout and stderr: enough to see the
// log lines a deployed function writes, end to end against the real broker and Redis.

const ROOT = join(import.meta.dirname, '..', '..');
const stack = inject('stack');
const WORK = '.esbuild-logs-test';

let events: string;
beforeAll(async () => {
  events = await mkdtemp(join(tmpdir(), 'narad-logs-'));
});
afterAll(async () => {
  await rm(join(ROOT, WORK), { recursive: true, force: true });
  await rm(events, { recursive: true, force: true });
});

/** `serverless invoke local -f <fn>` with `event`; its stdout and stderr. */
const invokeLocal = async (fn: string, event: unknown) => {
  const path = join(events, `${fn}-${randomUUID()}.json`);
  await writeFile(path, JSON.stringify(event));
  return runServerless(['invoke', 'local', '-f', fn, '-p', path], {
    ESBUILD_WORK_FOLDER: WORK,
    LOG_LEVEL: 'INFO',
    KAFKA_BROKERS: stack.kafkaBrokers,
    UPSTASH_REDIS_REST_URL: stack.upstashUrl,
    UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
  });
};

/** The log lines among the CLI's output: the lines that are JSON objects. */
const logLines = (output: string): Array<Record<string, unknown>> =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('structured logs of the deployed bundles', () => {
  const correlationId = `e2e-logs-${randomUUID()}`;

  it('POST /orders writes one JSON invocation line carrying the caller correlation id', async () => {
    const event = loadEvent<APIGatewayProxyEventV2>('http-post-orders.json');
    event.headers = {
      ...event.headers,
      'x-correlation-id': correlationId,
      'idempotency-key': randomUUID(),
      authorization: 'Bearer e2e-s3cret',
    };

    const { stdout, stderr } = await invokeLocal('createOrder', event);

    // stdout holds the handler's result and nothing else; the lines go to stderr.
    expect(JSON.parse(stdout)).toMatchObject({ statusCode: 202 });
    const invocations = logLines(stderr).filter((line) => line.message === 'invocation');
    expect(invocations).toHaveLength(1);
    expect(invocations[0]).toMatchObject({
      level: 'INFO',
      service: 'narad-services',
      function: 'createOrder',
      function_name: 'narad-services-dev-createOrder',
      route: 'POST /orders',
      status: 202,
      correlation_id: correlationId,
      duration_ms: expect.any(Number),
      cold_start: true,
    });
    expect(stderr).not.toContain('e2e-s3cret');
    // The bundle's metrics: one EMF line (lib/metrics.ts), on stderr too under invoke local.
    const emf = logLines(stderr).filter((line) => '_aws' in line);
    expect(emf).toHaveLength(1);
    expect(emf[0]).toMatchObject({
      _aws: {
        Timestamp: expect.any(Number),
        CloudWatchMetrics: [
          {
            Namespace: 'Narad',
            Dimensions: [['function', 'stage']],
            Metrics: [{ Name: 'OrdersAccepted', Unit: 'Count' }],
          },
        ],
      },
      function: 'createOrder',
      stage: 'dev',
      OrdersAccepted: 1,
    });
  }, 90_000);

  it('processOrders names the batch and the correlation ids from the record headers', async () => {
    const event = loadEvent<MSKEvent>('msk-orders.json');
    const [record] = event.records['orders-0'] as [MSKRecord];
    record.headers = [{ 'x-correlation-id': [...Buffer.from(correlationId)] }];

    const { stdout, stderr } = await invokeLocal('processOrders', event);

    expect(JSON.parse(stdout)).toEqual({ batchItemFailures: [] });
    const invocations = logLines(stderr).filter((line) => line.message === 'invocation');
    expect(invocations).toHaveLength(1);
    expect(invocations[0]).toMatchObject({
      level: 'INFO',
      function: 'processOrders',
      batch: ['orders-0:15'],
      correlation_ids: [correlationId],
      records: 1,
      processed: 1,
      failed: 0,
    });
  }, 90_000);
});
