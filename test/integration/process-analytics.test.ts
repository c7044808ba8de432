import { randomUUID } from 'node:crypto';
import type { MSKEvent, MSKRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startUpstashGateway } from '../../local/upstash-gateway/server.ts';
import { inspector } from '../support/redis.ts';

const stack = inject('stack');
const token = 'process-analytics-test-token';
let gateway: Awaited<ReturnType<typeof startUpstashGateway>>;
let handler: (event: MSKEvent) => Promise<{ batchItemFailures: unknown[] }>;

// A gateway of this file's own, so its request counters see this consumer's traffic only.
beforeAll(async () => {
  gateway = await startUpstashGateway({ redisUrl: stack.redisUrl, token, port: 0 });
  process.env.UPSTASH_REDIS_REST_URL = gateway.url;
  process.env.UPSTASH_REDIS_REST_TOKEN = token;
  process.env.KAFKA_BROKERS = stack.kafkaBrokers;
  ({ handler } = await import('../../functions/process-analytics.ts'));
});
afterAll(() => gateway.close());

const stats = async () =>
  (await (
    await fetch(`${gateway.url}/__narad/stats`, { headers: { authorization: `Bearer ${token}` } })
  ).json()) as {
    requests: { total: number; '/pipeline': number };
    commands: number;
  };
const resetStats = () =>
  fetch(`${gateway.url}/__narad/stats/reset`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });

const record = (partition: number, offset: number, value: unknown): MSKRecord => ({
  topic: 'user.events',
  partition,
  offset,
  timestamp: Date.now(),
  timestampType: 'CREATE_TIME',
  key: Buffer.from('k').toString('base64'),
  value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64'),
  headers: [],
});

/** An aws:kafka event of `count` USER_ACTION records over two partitions. */
const batchOf = (count: number, action: string, date: string): MSKEvent => {
  const records: Record<string, MSKRecord[]> = { 'user.events-0': [], 'user.events-1': [] };
  for (let i = 0; i < count; i += 1) {
    const partition = i % 2;
    records[`user.events-${partition}`]?.push(
      record(partition, i, {
        eventId: randomUUID(),
        type: 'USER_ACTION',
        userId: `u${i % 10}`,
        action,
        timestamp: `${date}T12:00:00.000Z`,
      }),
    );
  }
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/t/u',
    bootstrapServers: '',
    records,
  };
};

describe('processAnalytics', () => {
  it('applies a batch of 200 events in ONE Redis request, with counts aggregated per key', async () => {
    const action = `act-${randomUUID().slice(0, 8)}`;
    const date = '2031-01-01';
    const redis = inspector(stack);
    const before = Number((await redis.get(`analytics:daily:${date}:total_events`)) ?? 0);
    await resetStats();

    const response = await handler(batchOf(200, action, date));

    expect(response).toEqual({ batchItemFailures: [] });
    const { requests, commands } = await stats();
    expect(requests).toMatchObject({ total: 1, '/pipeline': 1 });
    expect(commands).toBe(10); // INCRBY x3 (total, user_actions, action) + SADD x2, each with its EXPIRE
    expect(Number(await redis.get(`analytics:daily:${date}:action:${action}`))).toBe(200);
    expect(Number(await redis.get(`analytics:daily:${date}:total_events`)) - before).toBe(200);
    await redis.del(`analytics:daily:${date}:action:${action}`);
  });

  it('reports the first unusable record of a partition and applies only what came before it', async () => {
    const action = `act-${randomUUID().slice(0, 8)}`;
    const date = '2031-01-02';
    const event = batchOf(6, action, date);
    const partition0 = event.records['user.events-0'] as MSKRecord[];
    partition0[1] = record(0, 2, '{not json');

    const response = await handler(event);

    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: { 'topic-partition': 'user.events-0', offset: 2 } }],
    });
    // partition 0: offset 0 applied, offsets 2 and 4 left for redelivery; partition 1: all three
    const redis = inspector(stack);
    expect(Number(await redis.get(`analytics:daily:${date}:action:${action}`))).toBe(4);
    await redis.del(`analytics:daily:${date}:action:${action}`);
  });
});
