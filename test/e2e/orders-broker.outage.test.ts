import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { DrainResult } from '../../lib/fallback/messages.ts';
import {
  ensureKafkaBroker,
  kafkaBrokerOptions,
  stopKafkaBroker,
} from '../../local/kafka/broker.ts';
import { offlineInvoker } from '../../local/msk-bridge/index.ts';
import { isPortOpen } from '../../local/pids.ts';
import { api } from '../support/api.ts';
import { loadEvent } from '../support/fixtures.ts';
import { testKafka } from '../support/kafka.ts';
import { inspector } from '../support/redis.ts';
import { eventually } from '../support/wait.ts';
import { carrying, messagesSince, topicOffsets } from './support/writes.ts';

/**
 * The broker stops while clients send 1,000 orders at a steady 50 per second: every order is
 * accepted (parked in the Redis fallback list), and once the broker is back and the scheduled
 * drain ran, every order is processed exactly once. Prints the figures RELIABILITY.md quotes.
 */

const apiUrl = inject('apiUrl');
const stack = inject('stack');
const redis = inspector(stack);
// The global setup runs serverless offline's Lambda API two ports above its HTTP port.
const invoke = offlineInvoker({
  lambdaUrl: `http://127.0.0.1:${Number(new URL(apiUrl).port) + 2}`,
  timeoutMs: 60_000,
});

const TOTAL = 1_000;
const PER_SECOND = 50;
const MAX_IN_FLIGHT = 25;
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

interface Sent {
  status: number;
  orderId?: string;
  /** The error message of a refused request. */
  error?: string;
  ms: number;
}

/**
 * Calls `send(i)` for i < count at `perSecond`, with at most `maxInFlight` requests open. The
 * delay paces the schedule (a steady client), it never waits for readiness.
 */
const paced = async (
  count: number,
  perSecond: number,
  maxInFlight: number,
  send: (i: number) => Promise<Sent>,
): Promise<Sent[]> => {
  const results: Sent[] = [];
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  for (let i = 0; i < count; i += 1) {
    const due = start + (i * 1000) / perSecond - performance.now();
    if (due > 0) await delay(due);
    while (pending.size >= maxInFlight) await Promise.race(pending);
    const request: Promise<void> = send(i).then((sent) => {
      results[i] = sent;
      pending.delete(request);
    });
    pending.add(request);
  }
  await Promise.all(pending);
  return results;
};

const postOrder = async (i: number): Promise<Sent> => {
  const started = performance.now();
  try {
    const response = await fetch(`${apiUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `${run}-${i}` },
      body: JSON.stringify(orderOf(i)),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await response.json()) as { orderId?: string; error?: string };
    return {
      status: response.status,
      ...(body.orderId ? { orderId: body.orderId } : { error: body.error }),
      ms: performance.now() - started,
    };
  } catch (error) {
    return { status: 0, error: String(error), ms: performance.now() - started };
  }
};

/**
 * Watches the broker's port until `stop()`: on a machine shared with other test runs, another
 * run's setup may start the broker again in the middle of the outage. Returns when it did.
 */
const watchBrokerPort = () => {
  const { host, port } = kafkaBrokerOptions();
  const started = performance.now();
  let backAfterMs: number | undefined;
  let watching = true;
  const done = (async () => {
    while (watching && backAfterMs === undefined) {
      if (await isPortOpen(host, port)) backAfterMs = performance.now() - started;
      else await delay(250);
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await done;
      return backAfterMs;
    },
  };
};

/**
 * How many consumers share the processOrders consumer group: every test run's MSK bridge on
 * this machine joins it, and the partitions (so this test's orders) are split among them.
 */
const processOrdersConsumers = async (): Promise<number> => {
  const admin = testKafka(stack.kafkaBrokers).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups(['narad-services-dev-process-orders']);
    return groups[0]?.members.length ?? 0;
  } finally {
    await admin.disconnect();
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
  const worker = async () => {
    while (next < ids.length) {
      const i = next;
      next += 1;
      states[i] = await api(apiUrl, `/orders/${ids[i]}`);
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
    await ensureKafkaBroker();
    if ((await parkedOrders()) > 0) await drain().catch(() => undefined);
  }, 120_000);

  it('accepts 1,000 orders sent at 50/s (fallback), and after the restart and the drain completes each exactly once', async () => {
    const testStarted = performance.now();
    // Warm: the orders topic exists and the path works end to end before the outage.
    const warm = await api(apiUrl, '/orders', {
      method: 'POST',
      body: { ...orderOf(0), userId: `${run}-warm` },
    });
    expect(warm.status).toBe(202);
    const before = await topicOffsets(stack.kafkaBrokers, ['orders']);

    // Act 1: the broker stops; 1,000 orders arrive at a steady rate.
    await stopKafkaBroker();
    const watcher = watchBrokerPort();
    const sendingStarted = performance.now();
    const answers = await paced(TOTAL, PER_SECOND, MAX_IN_FLIGHT, postOrder);
    const sendingMs = performance.now() - sendingStarted;
    const brokerBackAfterMs = await watcher.stop();
    const accepted = answers.filter((a) => a.status >= 200 && a.status < 300);
    const parked = await parkedOrders();
    const latencies = answers.map((a) => a.ms);
    const sendingFigures = {
      sent: TOTAL,
      accepted: accepted.length,
      parkedInFallback: parked,
      sendRatePerSecond: Number((TOTAL / (sendingMs / 1000)).toFixed(1)),
      latencyMs: {
        p50: Math.round(percentile(latencies, 0.5)),
        p99: Math.round(percentile(latencies, 0.99)),
        max: Math.round(Math.max(...latencies)),
      },
      sendingSeconds: seconds(sendingMs),
      brokerBackDuringOutageAfterSeconds:
        brokerBackAfterMs === undefined ? null : seconds(brokerBackAfterMs),
    };
    console.log(`[orders-broker.outage] during the outage ${JSON.stringify(sendingFigures)}`);

    expect(answers.filter((a) => a.status < 200 || a.status >= 300)).toEqual([]);
    expect(accepted).toHaveLength(TOTAL);
    if (brokerBackAfterMs === undefined) {
      expect(parked, 'with the broker down throughout, every order goes to the fallback').toBe(
        TOTAL,
      );
    } else {
      // Another test run started the broker again mid-outage: the orders after that went to
      // Kafka directly. Every guarantee below still holds; the figures say what happened.
      console.warn(
        `[orders-broker.outage] the broker was started again by another process ${seconds(brokerBackAfterMs)} s into the outage; ${TOTAL - parked} orders went to Kafka directly`,
      );
      expect(parked).toBeGreaterThan(0);
    }
    const ids = accepted.map((a) => a.orderId as string);
    expect(new Set(ids).size).toBe(TOTAL);

    // Act 2: the broker is back; the scheduled drain runs (as often as it takes).
    const restartStarted = performance.now();
    await ensureKafkaBroker();
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

    // Assess: every order completed, each processed by exactly one run.
    const processingStarted = performance.now();
    const consumers = await processOrdersConsumers();
    await eventually(
      async () => (await orderValues(ids, 'result')).filter((v) => v !== null).length,
      (done) => done === TOTAL,
      {
        what: `${TOTAL} order results (processOrders consumers in the group: ${consumers})`,
        timeoutMs: 90_000,
      },
    );
    const processingMs = performance.now() - processingStarted;
    const states = await getOrders(ids, 20);
    const completed = states.filter((s) => s.status === 200 && s.body.status === 'completed');
    const runs = (await orderValues<number>(ids, 'attempts')).map(Number);
    const duplicates = runs.filter((n) => n > 1).length;
    const messages = carrying(await messagesSince(stack.kafkaBrokers, before), run);
    const messagesPerOrder = new Map<string, number>();
    for (const { key } of messages) {
      messagesPerOrder.set(String(key), (messagesPerOrder.get(String(key)) ?? 0) + 1);
    }

    const figures = {
      ...sendingFigures,
      drainedToKafka: messages.length,
      processed: completed.length,
      duplicates,
      lost: accepted.length - completed.length,
      processingRuns: runs.reduce((sum, n) => sum + n, 0),
      drainInvocations: drainRuns,
      processOrdersConsumers: consumers,
      seconds: {
        brokerRestart: seconds(restartMs),
        drain: seconds(drainMs),
        processing: seconds(processingMs),
        elapsed: seconds(performance.now() - testStarted),
      },
    };
    console.log(`[orders-broker.outage] figures ${JSON.stringify(figures)}`);

    expect(completed).toHaveLength(TOTAL);
    expect(runs).toEqual(Array(TOTAL).fill(1));
    expect(
      states.map((s) => s.body.attempts),
      'each result records one processing run',
    ).toEqual(Array(TOTAL).fill(1));
    expect(messages).toHaveLength(TOTAL);
    expect([...messagesPerOrder.values()].every((n) => n === 1)).toBe(true);
    expect(figures.lost).toBe(0);
  }, 180_000);
});
