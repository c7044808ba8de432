import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ANSWER_RESERVE_MS, budgetMs, hasDeadline, withDeadline } from '../../lib/deadline.ts';
import { httpHandler } from '../../lib/lambda/http.ts';
import { json } from '../../lib/lambda/http-response.ts';
import { loadEvent } from '../support/fixtures.ts';

const context = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs });

describe('the invocation deadline', () => {
  it('gives a call its own limit when no invocation deadline is set', () => {
    expect(hasDeadline()).toBe(false);
    expect(budgetMs(3_000)).toBe(3_000);
    expect(budgetMs(Number.POSITIVE_INFINITY, 500)).toBe(Number.POSITIVE_INFINITY);
  });

  it('cuts a call to what is left of the invocation, less the answer reserve and what must follow', async () => {
    const budgets = await withDeadline(context(10_000), async () => ({
      capped: budgetMs(3_000),
      uncapped: budgetMs(Number.POSITIVE_INFINITY),
      withFallback: budgetMs(Number.POSITIVE_INFINITY, 3_000),
    }));

    expect(budgets.capped).toBe(3_000);
    expect(budgets.uncapped).toBeLessThanOrEqual(10_000 - ANSWER_RESERVE_MS);
    expect(budgets.uncapped).toBeGreaterThan(10_000 - ANSWER_RESERVE_MS - 1_000);
    expect(budgets.withFallback).toBeLessThanOrEqual(10_000 - ANSWER_RESERVE_MS - 3_000);
  });

  it('never answers a negative budget once the time is used up', async () => {
    expect(await withDeadline(context(100), async () => budgetMs(5_000, 1_000))).toBe(0);
  });

  it('keeps the deadlines of invocations running side by side apart', async () => {
    const [short, long] = await Promise.all([
      withDeadline(context(2_000), async () => {
        await Promise.resolve();
        return budgetMs(Number.POSITIVE_INFINITY);
      }),
      withDeadline(context(60_000), async () => {
        await Promise.resolve();
        return budgetMs(Number.POSITIVE_INFINITY);
      }),
    ]);

    expect(short).toBeLessThanOrEqual(2_000);
    expect(long).toBeGreaterThan(50_000);
  });
});

describe('the deadline of an HTTP invocation', () => {
  const event = (arrivedMsAgo: number) => {
    const sample = loadEvent<APIGatewayProxyEventV2>('http-get-health.json');
    sample.requestContext.timeEpoch = Date.now() - arrivedMsAgo;
    return sample;
  };
  /** The budget the handler saw for a call with no limit of its own. */
  const budgetSeen = async (env: string | undefined, arrivedMsAgo: number) => {
    let seen = Number.NaN;
    const handler = httpHandler('deadlineProbe', async () => {
      seen = budgetMs(Number.POSITIVE_INFINITY);
      return json(200, {});
    });
    const saved = process.env.IS_OFFLINE;
    process.env.IS_OFFLINE = env;
    if (env === undefined) delete process.env.IS_OFFLINE;
    try {
      await handler(event(arrivedMsAgo), context(10_000) as unknown as Context);
    } finally {
      if (saved === undefined) delete process.env.IS_OFFLINE;
      else process.env.IS_OFFLINE = saved;
    }
    return seen;
  };

  it('under serverless offline, counts the time offline held the request before the handler (a cold container loading)', async () => {
    const budget = await budgetSeen('true', 8_000);

    expect(budget).toBeLessThanOrEqual(10_000 - 8_000 - ANSWER_RESERVE_MS);
    expect(budget).toBeGreaterThan(0);
  });

  it('on AWS, leaves the time before the handler out, as Lambda does (init is not counted)', async () => {
    const budget = await budgetSeen(undefined, 8_000);

    expect(budget).toBeGreaterThan(10_000 - ANSWER_RESERVE_MS - 1_000);
  });
});
