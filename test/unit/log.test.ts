import type { APIGatewayProxyEventV2, Context, MSKEvent, MSKRecord } from 'aws-lambda';
import { logLevel } from 'kafkajs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { kafkaServers, loadConfig } from '../../lib/config.ts';
import { loadEvent } from '../support/fixtures.ts';

type Line = Record<string, unknown> & { level: string; message: string };

/**
 * Fresh copies of the modules under test, so the module-scope logger reads the environment
 * given here (LOG_LEVEL is read once, when the logger is built) and the container is cold again.
 * Error classes come from the same fresh copies, or `instanceof` would not recognise them.
 */
const load = async (
  env: { LOG_LEVEL?: string; POWERTOOLS_LOG_LEVEL?: string; IS_LOCAL?: string } = {},
) => {
  vi.resetModules();
  vi.stubEnv('IS_LOCAL', env.IS_LOCAL ?? '');
  vi.stubEnv('LOG_LEVEL', env.LOG_LEVEL ?? '');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', env.POWERTOOLS_LOG_LEVEL ?? '');
  vi.stubEnv('AWS_LAMBDA_LOG_LEVEL', '');
  vi.stubEnv('AWS_LAMBDA_INITIALIZATION_TYPE', '');
  vi.stubEnv('POWERTOOLS_DEV', '');
  return {
    errors: await import('../../lib/errors.ts'),
    log: await import('../../lib/log.ts'),
    http: {
      ...(await import('../../lib/lambda/http.ts')),
      ...(await import('../../lib/lambda/http-response.ts')),
    },
    consumer: {
      ...(await import('../../lib/lambda/consumer/handler.ts')),
      ...(await import('../../lib/lambda/consumer/in-order.ts')),
      ...(await import('../../lib/lambda/consumer/batch-summary.ts')),
    },
    invocation: await import('../../lib/lambda/invocation-log.ts'),
    kafka: await import('../../lib/kafka/client.ts'),
  };
};

/**
 * Captures what the logger prints. Outside POWERTOOLS_DEV, Powertools writes through its own
 * `Console` over process.stdout (debug, info) and process.stderr (warn, error), exactly as in
 * Lambda: capturing the streams checks the real output, one compact JSON object per line.
 */
const captureLogs = () => {
  const raw: string[] = [];
  const write = (chunk: string | Uint8Array) => {
    raw.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(write);
  vi.spyOn(process.stderr, 'write').mockImplementation(write);
  return {
    text: () => raw.join(''),
    lines: (): Line[] =>
      raw
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Line),
  };
};

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const httpEvent = (headers: Record<string, string> = {}): APIGatewayProxyEventV2 => {
  const event = loadEvent<APIGatewayProxyEventV2>('http-post-orders.json');
  event.headers = { ...event.headers, ...headers };
  return event;
};

const lambdaContext = (functionName: string): Context => ({
  callbackWaitsForEmptyEventLoop: true,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
  memoryLimitInMB: '256',
  awsRequestId: 'request-0001',
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: 'test',
  getRemainingTimeInMillis: () => 10_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});

const headerBytes = (value: string) => [...Buffer.from(value, 'utf8')];

/** The orders fixture's record at offsets 15..20 of orders-0, each with its own correlation id. */
const ordersBatch = (): MSKEvent => {
  const event = loadEvent<MSKEvent>('msk-orders.json');
  const [template] = event.records['orders-0'] as [MSKRecord];
  event.records['orders-0'] = [15, 16, 17, 18, 19, 20].map((offset) => ({
    ...structuredClone(template),
    offset,
    headers: [{ 'x-correlation-id': headerBytes(`corr-${offset % 3}`) }],
  }));
  return event;
};

describe('HTTP invocation line', () => {
  it('is exactly one info line with function, route, status, duration, correlation id and cold start', async () => {
    const { http } = await load();
    const handler = http.httpHandler('createOrder', async (_event, { correlationId }) =>
      http.json(202, { orderId: 'ord_1', correlationId }),
    );
    const event = httpEvent({ 'x-correlation-id': 'corr-http-1' });
    const logs = captureLogs();

    const response = await handler(event, lambdaContext('narad-services-dev-createOrder'));

    const lines = logs.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      message: 'invocation',
      service: 'narad-services',
      function: 'createOrder',
      route: 'POST /orders',
      status: 202,
      correlation_id: 'corr-http-1',
      cold_start: true,
      function_name: 'narad-services-dev-createOrder',
      function_request_id: 'request-0001',
    });
    expect(lines[0]?.duration_ms).toEqual(expect.any(Number));
    expect(response.headers?.['x-correlation-id']).toBe('corr-http-1');
  });

  it('falls back to API Gateway request id, and the second invocation is warm', async () => {
    const { http } = await load();
    const handler = http.httpHandler('getOrder', async () => http.json(200, {}));
    const logs = captureLogs();

    await handler(httpEvent());
    await handler(httpEvent());

    const [first, second] = logs.lines();
    expect(first).toMatchObject({ correlation_id: 'JKJaXmPLvHcESHA=', cold_start: true });
    expect(second).toMatchObject({ correlation_id: 'JKJaXmPLvHcESHA=', cold_start: false });
  });

  it('never writes the Authorization header or the request body', async () => {
    const { http } = await load({ LOG_LEVEL: 'DEBUG' });
    const handler = http.httpHandler('createOrder', async () => http.json(202, {}));
    const event = httpEvent({ authorization: 'Bearer s3cret-bearer-token' });
    const logs = captureLogs();

    await handler(event);

    expect(logs.lines()).toHaveLength(1);
    expect(logs.text()).not.toContain('s3cret-bearer-token');
    expect(logs.text()).not.toContain('SKU-RED-MUG');
  });

  it('a 4xx stays one info line naming the error, without a stack', async () => {
    const { http, errors } = await load();
    const handler = http.httpHandler('createOrder', async () => {
      throw new errors.ValidationError('Invalid request body: items: Required');
    });
    const logs = captureLogs();

    const response = await handler(httpEvent());

    const lines = logs.lines();
    expect(response.statusCode).toBe(400);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      status: 400,
      error: { name: 'ValidationError', message: 'Invalid request body: items: Required' },
    });
    expect(lines[0]?.error).not.toHaveProperty('stack');
  });
});

describe('errors', () => {
  it('an unexpected error is one error line with its name and message, secrets redacted', async () => {
    const { http } = await load();
    const handler = http.httpHandler('createOrder', async () => {
      throw Object.assign(new TypeError('upstream refused the request'), {
        request: {
          headers: { Authorization: 'Bearer s3cret-upstream-token' },
          password: 'hunter2',
        },
      });
    });
    const event = httpEvent({ authorization: 'Bearer s3cret-bearer-token' });
    const logs = captureLogs();

    const response = await handler(event);

    const lines = logs.lines();
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('upstream refused');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'ERROR',
      message: 'invocation',
      function: 'createOrder',
      route: 'POST /orders',
      status: 500,
      error: {
        name: 'TypeError',
        message: 'upstream refused the request',
        request: { headers: { Authorization: '[REDACTED]' }, password: '[REDACTED]' },
      },
    });
    for (const secret of ['s3cret-upstream-token', 'hunter2', 's3cret-bearer-token']) {
      expect(logs.text()).not.toContain(secret);
    }
  });

  it('redacts keys named like secrets at any depth', async () => {
    const { log } = await load();
    const logs = captureLogs();

    log.logger.info('config', {
      sasl: { mechanism: 'plain', username: 'narad', password: 'p4ss' },
      upstash: { url: 'http://127.0.0.1:8079', token: 't0ken' },
      headers: { 'X-Api-Key': 'k3y', Cookie: 'c00kie', accept: 'application/json' },
      clientSecret: 's3cret',
      login: { userId: 'user-42', sessionId: 'sess_0123456789abcdef' },
    });

    const [line] = logs.lines();
    expect(line).toMatchObject({
      sasl: { mechanism: 'plain', username: 'narad', password: '[REDACTED]' },
      upstash: { url: 'http://127.0.0.1:8079', token: '[REDACTED]' },
      headers: { 'X-Api-Key': '[REDACTED]', Cookie: '[REDACTED]', accept: 'application/json' },
      clientSecret: '[REDACTED]',
      login: { userId: 'user-42', sessionId: '[REDACTED]' },
    });
  });
});

describe('consumer invocation line', () => {
  it('is one info line with the offset range and the correlation ids of the records', async () => {
    const { consumer } = await load();
    const handler = consumer.kafkaHandler('processOrders', (event, { recordFailed }) =>
      consumer.handleRecordsInOrder(event, async () => undefined, recordFailed),
    );
    const logs = captureLogs();

    const response = await handler(ordersBatch());

    const lines = logs.lines();
    expect(response.batchItemFailures).toEqual([]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      message: 'invocation',
      function: 'processOrders',
      batch: ['orders-0:15-20'],
      correlation_ids: ['corr-0', 'corr-1', 'corr-2'],
      records: 6,
      processed: 6,
      failed: 0,
      cold_start: true,
    });
    expect(lines[0]?.duration_ms).toEqual(expect.any(Number));
    // Values stay out of the logs: neither the base64 value nor what it decodes to.
    const [record] = ordersBatch().records['orders-0'] as [MSKRecord];
    expect(logs.text()).not.toContain(record.value);
    expect(logs.text()).not.toContain('user-42');
  });

  it('a failed record is an error line with its position and correlation id; the invocation line warns', async () => {
    const { consumer } = await load();
    const handler = consumer.kafkaHandler('processOrders', (event, { recordFailed }) =>
      consumer.handleRecordsInOrder(
        event,
        async (record) => {
          if (record.offset === 17) throw new Error('order step failed');
        },
        recordFailed,
      ),
    );
    const logs = captureLogs();

    const response = await handler(ordersBatch());

    const lines = logs.lines();
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'orders-0', offset: 17 } },
    ]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 'ERROR',
      message: 'record failed',
      function: 'processOrders',
      record: 'orders-0:17',
      correlation_id: 'corr-2',
      correlation_ids: ['corr-0', 'corr-1', 'corr-2'],
      error: { name: 'Error', message: 'order step failed' },
    });
    expect(lines[1]).toMatchObject({
      level: 'WARN',
      message: 'invocation',
      batch: ['orders-0:15-20'],
      records: 6,
      processed: 2,
      failed: 1,
    });
  });

  it('a handler that throws is an error line, and the error still reaches Lambda', async () => {
    const { consumer } = await load();
    const handler = consumer.kafkaHandler('processAnalytics', async () => {
      throw new Error('Redis pipeline failed');
    });
    const logs = captureLogs();

    await expect(handler(ordersBatch())).rejects.toThrow('Redis pipeline failed');

    const lines = logs.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'ERROR',
      message: 'invocation',
      function: 'processAnalytics',
      outcome: 'threw',
      error: { name: 'Error', message: 'Redis pipeline failed' },
    });
  });

  it('names at most ten distinct correlation ids and counts the rest', async () => {
    const { consumer } = await load();
    const event = ordersBatch();
    const [template] = event.records['orders-0'] as [MSKRecord];
    event.records['orders-1'] = Array.from({ length: 12 }, (_, offset) => ({
      ...structuredClone(template),
      partition: 1,
      offset,
      headers: [{ 'x-correlation-id': headerBytes(`other-${offset}`) }],
    }));

    const summary = consumer.summarizeBatch(event);

    expect(summary.ranges).toEqual(['orders-0:15-20', 'orders-1:0-11']);
    expect(summary.records).toBe(18);
    expect(summary.correlationIds).toHaveLength(10);
    expect(summary.moreCorrelationIds).toBe(5);
  });
});

describe('LOG_LEVEL', () => {
  it('WARN suppresses the info line but keeps errors', async () => {
    const { http } = await load({ LOG_LEVEL: 'WARN' });
    const ok = http.httpHandler('getOrder', async () => http.json(200, {}));
    const broken = http.httpHandler('getOrder', async () => {
      throw new Error('boom');
    });
    const logs = captureLogs();

    await ok(httpEvent());
    expect(logs.lines()).toEqual([]);
    await broken(httpEvent());

    expect(logs.lines()).toMatchObject([{ level: 'ERROR', status: 500 }]);
  });

  it('accepts any case, prefers POWERTOOLS_LOG_LEVEL, and defaults to INFO', async () => {
    const { log } = await load();

    expect(log.logLevelFrom({ LOG_LEVEL: 'warn' })).toBe('WARN');
    expect(log.logLevelFrom({ LOG_LEVEL: 'warn', POWERTOOLS_LOG_LEVEL: 'debug' })).toBe('DEBUG');
    expect(log.logLevelFrom({ LOG_LEVEL: 'loud' })).toBe('INFO');
    expect(log.logLevelFrom({})).toBe('INFO');
    expect(log.logger.getLevelName()).toBe('INFO');
  });
});

describe('serverless invoke local', () => {
  it('writes the lines to stderr, keeping stdout for the result it prints', async () => {
    const { http } = await load({ IS_LOCAL: 'true' });
    const handler = http.httpHandler('getOrder', async () => http.json(200, {}));
    const stdout: string[] = [];
    const stderr: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => stdout.push(String(chunk)) > 0);
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => stderr.push(String(chunk)) > 0);

    await handler(httpEvent());

    expect(stdout).toEqual([]);
    expect(stderr).toHaveLength(1);
    expect(JSON.parse(stderr[0] ?? '')).toMatchObject({ level: 'INFO', message: 'invocation' });
  });
});

describe('scheduled invocation line', () => {
  it('is one info line with the fields the handler reports', async () => {
    const { invocation } = await load();
    const handler = invocation.scheduledHandler(
      'drainFallback',
      async () => ({ topics: 1, sent: 3 }),
      (result) => result,
    );
    const logs = captureLogs();

    await handler(loadEvent('schedule-drain-fallback.json'));

    expect(logs.lines()).toMatchObject([
      { level: 'INFO', message: 'invocation', function: 'drainFallback', topics: 1, sent: 3 },
    ]);
  });
});

describe('kafkajs logs', () => {
  it('become JSON lines of the same logger at the mapped level, without the stack', async () => {
    const { kafka } = await load();
    const logs = captureLogs();

    kafka.kafkaLogCreator(logLevel.WARN)({
      namespace: 'Connection',
      level: logLevel.ERROR,
      label: 'ERROR',
      log: {
        timestamp: new Date().toISOString(),
        logger: 'kafkajs',
        message: 'Connection error: connect ECONNREFUSED 127.0.0.1:1',
        broker: '127.0.0.1:1',
        clientId: 'narad-tests',
        stack: 'Error: connect ECONNREFUSED\n    at ...',
      },
    });

    const lines = logs.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'ERROR',
      service: 'narad-services',
      message: 'Connection error: connect ECONNREFUSED 127.0.0.1:1',
      kafkajs: { namespace: 'Connection', broker: '127.0.0.1:1', clientId: 'narad-tests' },
    });
    expect(lines[0]?.kafkajs).not.toHaveProperty('stack');
  });

  it('a real client that cannot connect writes only JSON lines', async () => {
    const { kafka } = await load();
    const config = loadConfig({ KAFKA_BROKERS: '127.0.0.1:1', KAFKA_CLIENT_ID: 'narad-tests' });
    const admin = kafka
      .createKafkaClient(kafkaServers(config.kafka) ?? expect.fail('no kafka config'))
      .admin();
    const logs = captureLogs();

    await expect(admin.connect()).rejects.toThrow();

    const lines = logs.lines();
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toMatchObject({ service: 'narad-services', kafkajs: expect.any(Object) });
      expect(['WARN', 'ERROR']).toContain(line.level);
    }
  });
});
