import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadEvent } from '../support/fixtures.ts';
import { inspector } from '../support/redis.ts';
import { runServerless } from '../support/serverless-cli.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const stack = inject('stack');
const userSourceUrl = inject('userSourceUrl');
const WORK = '.esbuild-cli-test';
const PACKAGE_DIR = '.serverless-cli-test';

const serverless = (...args: string[]) =>
  runServerless(args, {
    ESBUILD_WORK_FOLDER: WORK,
    KAFKA_BROKERS: stack.kafkaBrokers,
    UPSTASH_REDIS_REST_URL: stack.upstashUrl,
    UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
    USER_SOURCE_URL: userSourceUrl,
  });

afterAll(async () => {
  await rm(join(ROOT, WORK), { recursive: true, force: true });
  await rm(join(ROOT, PACKAGE_DIR), { recursive: true, force: true });
});

/** The JSON a handler returned, as `invoke local` prints it. */
const resultOf = (stdout: string) =>
  JSON.parse(stdout.slice(stdout.indexOf('{'), stdout.lastIndexOf('}') + 1));

describe('the serverless CLI, offline and without AWS credentials', () => {
  it('packages a CloudFormation template with one event-source mapping per msk event, each reporting batch item failures', async () => {
    await serverless('package', '--package', PACKAGE_DIR);
    const template = JSON.parse(
      await readFile(join(ROOT, PACKAGE_DIR, 'cloudformation-template-update-stack.json'), 'utf8'),
    );
    const mappings = Object.values(
      template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
    ).filter((resource) => resource.Type === 'AWS::Lambda::EventSourceMapping');

    expect(mappings.map((m) => (m.Properties.Topics as string[])[0]).sort()).toEqual([
      'orders',
      'system.events',
      'user.events',
      'user.events',
    ]);
    for (const mapping of mappings) {
      expect(mapping.Properties).toMatchObject({
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        StartingPosition: 'LATEST',
        MaximumRetryAttempts: 10,
      });
    }
    expect(
      new Set(mappings.map((m) => JSON.stringify(m.Properties.AmazonManagedKafkaEventSourceConfig)))
        .size,
    ).toBe(4);
  }, 120_000);

  it.each([
    ['health', 'http-get-health.json', 200],
    ['openapi', 'http-get-openapi.json', 200],
    ['createOrder', 'http-post-orders.json', 202],
    ['getOrder', 'http-get-order.json', 404],
    ['trackEvents', 'http-post-analytics-events.json', 202],
    ['getDailyStats', 'http-get-daily-stats.json', 200],
    ['getUserActivity', 'http-get-user-activity.json', 200],
    ['getUser', 'http-get-user.json', 200],
  ])(
    'invokes %s locally with events/%s and gets %i',
    async (fn, event, status) => {
      const { stdout } = await serverless('invoke', 'local', '-f', fn, '-p', join('events', event));
      expect(resultOf(stdout).statusCode).toBe(status);
    },
    90_000,
  );

  it.each([
    ['processOrders', 'msk-orders.json'],
    ['processAnalytics', 'msk-user-events.json'],
    ['userCacheEvents', 'msk-user-events.json'],
    ['userCacheEvents', 'self-managed-kafka-user-events.json'],
  ])(
    'invokes %s locally with events/%s and gets an empty partial-batch response',
    async (fn, event) => {
      const { stdout } = await serverless('invoke', 'local', '-f', fn, '-p', join('events', event));
      expect(resultOf(stdout)).toEqual({ batchItemFailures: [] });
    },
    90_000,
  );

  it('invokes the authorizer locally with events/http-authorizer-request.json and gets the session user', async () => {
    const event = loadEvent<{ headers: { authorization: string } }>('http-authorizer-request.json');
    const session = `session:${event.headers.authorization.replace('Bearer ', '')}`;
    const redis = inspector(stack);
    await redis.set(
      session,
      { userId: 'user-42', createdAt: new Date().toISOString() },
      { ex: 60 },
    );
    try {
      const { stdout } = await serverless(
        'invoke',
        'local',
        '-f',
        'authorizer',
        '-p',
        join('events', 'http-authorizer-request.json'),
      );
      expect(resultOf(stdout)).toEqual({
        isAuthorized: true,
        context: { principal: 'user', userId: 'user-42' },
      });
    } finally {
      await redis.del(session);
    }
  }, 90_000);

  it('invokes drainFallback locally with the schedule event', async () => {
    const { stdout } = await serverless(
      'invoke',
      'local',
      '-f',
      'drainFallback',
      '-p',
      join('events', 'schedule-drain-fallback.json'),
    );
    expect(resultOf(stdout)).toMatchObject({
      topics: expect.any(Number),
      sent: expect.any(Number),
    });
  }, 90_000);
});
