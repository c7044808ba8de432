import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { DrainResult } from '../../lib/fallback/drain.ts';
import { offlineInvoker } from '../../local/msk-bridge/index.ts';
import { api } from '../support/api.ts';
import { loadEvent } from '../support/fixtures.ts';
import { testStackOutages } from '../support/outages.ts';
import { inspector } from '../support/redis.ts';
import { eventually } from '../support/wait.ts';
import { carrying, messagesSince, topicOffsets } from './support/writes.ts';

/**
 * The broker stops while clients send 1,000 orders at a steady 50 per second, each with an
 * Idempotency-Key. The guarantee under test is the one a client relies on: every request is
 * either accepted (202), and that order is then completed exactly once, or refused with a
 * retryable error (503 or 409 with Retry-After, or the platform's timeout of the function)
 * that left no order of its own behind; a refused request retried with its Idempotency-Key is
 * accepted and completes exactly once. So nothing is lost and nothing is doubled, whatever the
 * machine's load does to timings.
 *
 * About timeouts: the functions answer within their deadline (lib/deadline.ts), but serverless
 * offline starts a worker thread per concurrent request, and on a loaded 2-core machine a
 * burst of cold workers can take longer than the timeout to boot before any of our code runs;
 * offline then answers 200 with a LambdaTimeoutError body (API Gateway would answer 5xx). A
 * client cannot know whether such a request took effect, which is what the Idempotency-Key is
 * for: it retries with the same key.
 * Prints the figures docs/reliability.md quotes.
 */

const apiUrl = inject('apiUrl');
const stack = inject('stack');
const outages = testStackOutages();
const redis = inspector(stack);
// The global setup runs serverless offline's Lambda API two ports above its HTTP port.
const invoke = offlineInvoker({
  lambdaUrl: `http://127.0.0.1:${Number(new URL(apiUrl).port) + 2}`,
  timeoutMs: 60_000,
});

const TOTAL = 1_000;
const PER_SECOND = 50;
const MAX_IN_FLIGHT = 25;
/**
 * Rounds of retries a client makes of refused requests before the test gives up on it: enough
 * to outlast IDEMPOTENCY_TAKEOVER_MS (a request stopped half way holds its key until then).
 */
const RETRY_ROUNDS = 10;
/** What a client waits before retrying when the answer gave no Retry-After. */
const DEFAULT_RETRY_AFTER_S = 5;
const FALLBACK_LIST = 'kafka_fallback:orders';

const run = `outage${randomUUID().slice(0, 8)}`;
const orderOf = (i: number) => ({
  userId: `${run}-u${i % 50}`,
  items: [{ sku: `SKU-${i}`, quantity: 1 + (i % 3), price: 2.5 }],
  currency: 'EUR',
});

/** The scheduled drainFallback function, invoked the way the schedule invokes it. */
const drain = async () =>
  (await invoke('narad-services-dev-drainFallback', loadEvent('schedule-drain-fallback.json'))) as {
    sent: number;
    results: DrainResult[];
  };

/** How many entries of the fallback list belong to this test's orders. */
const parkedOrders = async () =>
  (await redis.lrange<unknown>(FALLBACK_LIST, 0, -1)).filter((entry) =>
    JSON.stringify(entry).includes(run),
  ).length;

interface Answer {
  status: number;
  orderId?: string;
  /** The error message of a refused request. */
  error?: string;
  retryAfter?: string | null;
  ms: number;
}

/** The API's acceptance: 202 with the order's id (anything else is not what the API promises). */
const accepted = (answer: Answer) => answer.status === 202 && answer.orderId !== undefined;
/** A refusal as the figures name it: the status and the error's first words. */
const refusalKind = (answer: Answer) =>
  timedOut(answer) ? 'function timeout' : `${answer.status} ${answer.error?.slice(0, 80)}`;
const countBy = (kinds: string[]) =>
  Object.fromEntries(
    [...new Set(kinds)].map((kind) => [kind, kinds.filter((k) => k === kind).length]),
  );

/** The platform stopped the function at its timeout (serverless offline's form of it). */
const timedOut = (answer: Answer) => /LambdaTimeoutError/.test(answer.error ?? '');
/**
 * What a client may retry with its key: 503 (a dependency is out of reach) and 409 (the key is
 * still at work), each with Retry-After, and a timeout of the function.
 */
const retryable = (answer: Answer) =>
  ((answer.status === 503 || answer.status === 409) && answer.retryAfter !== null) ||
  timedOut(answer);

/**
 * Calls `send(i)` for each index at `perSecond`, with at most `maxInFlight` requests open. The
 * delay paces the schedule (a steady client), it never waits for readiness.
 */
const paced = async (
  indexes: number[],
  perSecond: number,
  maxInFlight: number,
  send: (i: number) => Promise<Answer>,
): Promise<Map<number, Answer>> => {
  const results = new Map<number, Answer>();
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  for (const [n, i] of indexes.entries()) {
    const due = start + (n * 1000) / perSecond - performance.now();
    if (due > 0) await delay(due);
    while (pending.size >= maxInFlight) await Promise.race(pending);
    const request: Promise<void> = send(i).then((answer) => {
      results.set(i, answer);
      pending.delete(request);
    });
    pending.add(request);
  }
  await Promise.all(pending);
  return results;
};

const postOrder = async (i: number): Promise<Answer> => {
  const started = performance.now();
  try {
    const response = await fetch(`${apiUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `${run}-${i}` },
      body: JSON.stringify(orderOf(i)),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    const body = JSON.parse(text || '{}') as { orderId?: string; error?: string };
    return {
      status: response.status,
      ...(body.orderId ? { orderId: body.orderId } : { error: body.error ?? text.slice(0, 300) }),
      retryAfter: response.headers.get('retry-after'),
      ms: performance.now() - started,
    };
  } catch (error) {
    return { status: 0, error: String(error), ms: performance.now() - started };
  }
};

/** The values of `order:{id}:<suffix>` for every id (MGET in chunks). */
const orderValues = async <T>(ids: string[], suffix: string): Promise<Array<T | null>> => {
  const values: Array<T | null> = [];
  for (let i = 0; i < ids.length; i += 500) {
    const keys = ids.slice(i, i + 500).map((id) => `order:${id}:${suffix}`);
    values.push(...(await redis.mget<Array<T | null>>(...keys)));
  }
  return values;
};

/** GET /orders/{id} for every id, `concurrency` at a time. */
const getOrders = async (ids: string[], concurrency: number) => {
  const states: Array<{ status: number; body: Record<string, unknown> }> = [];
  let next = 0;
  // A read is safe to repeat: one the machine's load refused (5xx, a function timeout) is
  // asked again, as a client would, so the state seen is the order's, not the load's.
  const read = async (id: string) => {
    for (let attempt = 1; ; attempt += 1) {
      const state = await api(apiUrl, `/orders/${id}`).catch(() => ({ status: 0, body: {} }));
      const refused = state.status >= 500 || state.status === 0 || 'errorType' in state.body;
      if (!refused || attempt === 5) return state;
    }
  };
  const worker = async () => {
    while (next < ids.length) {
      const i = next;
      next += 1;
      states[i] = await read(ids[i] as string);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return states;
};

const seconds = (ms: number) => (ms / 1000).toFixed(1);
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))] ??
  0;

describe('POST /orders while the Kafka broker is stopped', () => {
  // Whatever happens below, the broker runs again and nothing this test parked stays parked.
  afterAll(async () => {
    await outages.startBroker();
    if ((await parkedOrders()) > 0) await drain().catch(() => undefined);
  }, 120_000);

  it('accepts or retryably refuses each of 1,000 orders sent at 50/s; after retries, the restart and the drain, each completes exactly once', async () => {
    const testStarted = performance.now();
    // Warm: the orders topic exists and the path works end to end before the outage.
    const warm = await api(apiUrl, '/orders', {
      method: 'POST',
      body: { ...orderOf(0), userId: `${run}-warm` },
    });
    expect(warm.status).toBe(202);
    const before = await topicOffsets(stack.kafkaBrokers, ['orders']);

    // Act 1: the broker stops; 1,000 orders arrive at a steady rate.
    await outages.stopBroker();
    const sendingStarted = performance.now();
    const all = Array.from({ length: TOTAL }, (_, i) => i);
    const first = await paced(all, PER_SECOND, MAX_IN_FLIGHT, postOrder);
    const sendingMs = performance.now() - sendingStarted;
    const answers = new Map(first);
    // The client's side of the contract: a retryable refusal is retried with the same key,
    // after the Retry-After it was given.
    const refusedFirst = all.filter((i) => !accepted(answers.get(i) as Answer));
    const retried: Answer[] = [];
    for (let round = 1; round <= RETRY_ROUNDS; round += 1) {
      const refused = all.filter((i) => !accepted(answers.get(i) as Answer));
      if (refused.length === 0) break;
      const notRetryable = refused
        .map((i) => answers.get(i) as Answer)
        .filter((a) => !retryable(a));
      expect(notRetryable, 'every refusal is a 503 or 409 with Retry-After, or a timeout').toEqual(
        [],
      );
      const wait = Math.max(
        ...refused.map((i) => Number(answers.get(i)?.retryAfter ?? DEFAULT_RETRY_AFTER_S)),
      );
      await delay(wait * 1000);
      for (const [i, answer] of await paced(refused, PER_SECOND, MAX_IN_FLIGHT, postOrder)) {
        answers.set(i, answer);
        retried.push(answer);
      }
    }
    const finalAnswers = all.map((i) => answers.get(i) as Answer);
    const parked = await parkedOrders();
    const latencies = [...first.values(), ...retried].map((a) => a.ms);
    const sendingFigures = {
      sent: TOTAL,
      acceptedFirstTime: TOTAL - refusedFirst.length,
      refusedFirstTime: refusedFirst.length,
      refusals: countBy(refusedFirst.map((i) => refusalKind(first.get(i) as Answer))),
      retries: retried.length,
      accepted: finalAnswers.filter(accepted).length,
      parkedInFallback: parked,
      sendRatePerSecond: Number((TOTAL / (sendingMs / 1000)).toFixed(1)),
      latencyMs: {
        p50: Math.round(percentile(latencies, 0.5)),
        p99: Math.round(percentile(latencies, 0.99)),
        max: Math.round(Math.max(...latencies)),
      },
      sendingSeconds: seconds(sendingMs),
    };
    console.log(`[orders-broker.outage] during the outage ${JSON.stringify(sendingFigures)}`);

    expect(finalAnswers.filter((a) => !accepted(a))).toEqual([]);
    const ids = finalAnswers.map((a) => a.orderId as string);
    expect(new Set(ids).size, 'one order per Idempotency-Key').toBe(TOTAL);
    expect(parked, 'with the broker down throughout, every order is parked').toBeGreaterThanOrEqual(
      TOTAL,
    );

    // Act 2: the broker is back; the scheduled drain runs (as often as it takes).
    const restartStarted = performance.now();
    await outages.startBroker();
    const restartMs = performance.now() - restartStarted;
    const drainStarted = performance.now();
    let drainRuns = 0;
    await eventually(
      async () => {
        drainRuns += 1;
        await drain();
        return parkedOrders();
      },
      (left) => left === 0,
      { what: "this test's orders drained from the fallback list", timeoutMs: 60_000 },
    );
    const drainMs = performance.now() - drainStarted;

    // Assess: every order completed, each processed by exactly one run, and no order exists
    // that no accepted answer named (a refusal left nothing of its own behind).
    const processingStarted = performance.now();
    await eventually(
      async () => (await orderValues(ids, 'result')).filter((v) => v !== null).length,
      (done) => done === TOTAL,
      { what: `${TOTAL} order results`, timeoutMs: 90_000 },
    );
    const processingMs = performance.now() - processingStarted;
    const states = await getOrders(ids, 10);
    const completed = states.filter((s) => s.status === 200 && s.body.status === 'completed');
    const runs = (await orderValues<number>(ids, 'attempts')).map(Number);
    const messages = carrying(await messagesSince(stack.kafkaBrokers, before), run);
    const orderIdsInKafka = new Set(messages.map(({ key }) => String(key)));

    const figures = {
      ...sendingFigures,
      messagesInKafka: messages.length,
      ordersInKafka: orderIdsInKafka.size,
      processed: completed.length,
      doubled: runs.filter((n) => n > 1).length,
      lost: TOTAL - completed.length,
      processingRuns: runs.reduce((sum, n) => sum + n, 0),
      drainInvocations: drainRuns,
      seconds: {
        brokerRestart: seconds(restartMs),
        drain: seconds(drainMs),
        processing: seconds(processingMs),
        elapsed: seconds(performance.now() - testStarted),
      },
    };
    console.log(`[orders-broker.outage] figures ${JSON.stringify(figures)}`);

    expect(completed).toHaveLength(TOTAL);
    expect(runs, 'each order processed by exactly one run').toEqual(Array(TOTAL).fill(1));
    expect(
      states.map((s) => s.body.attempts),
      'each result records one processing run',
    ).toEqual(Array(TOTAL).fill(1));
    expect([...orderIdsInKafka].sort(), 'no order but the accepted ones reached Kafka').toEqual(
      [...ids].sort(),
    );
  }, 300_000);
});
