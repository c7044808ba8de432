import { randomUUID } from 'node:crypto';
import type { Redis } from '@upstash/redis';
import type { MSKEvent } from 'aws-lambda';
import type { AnalyticsEvent } from '../lib/analytics/schema.ts';
import type { Benchmark } from './support/benchmark.ts';
import { type GatewayCounts, startCountingGateway } from './support/gateway.ts';
import { lambdaContext } from './support/lambda.ts';
import { deleteKeysMatching, plainRedis } from './support/redis.ts';
import type { Goal, Table } from './support/report.ts';
import { functionEnv, useFunctionEnv, withStack } from './support/stack.ts';
import { fmt, ratio, seededRandom, summarize } from './support/stats.ts';
import { analyticsEvents, dailyKeysTouched, mskEventOf } from './support/workload.ts';

/**
 * Analytics ingestion cost: what one aws:kafka batch costs the real processAnalytics handler in
 * Redis HTTP requests, Redis commands (counted by a gateway of this benchmark's own, in front
 * of the stack's Redis) and handler time; beside it, in the same run and against the same
 * gateway, the seed's literal approach: one command per HTTP request, INCR total, INCR
 * user_actions, INCR action:{name}, SADD active_users per event.
 */

const BATCH_SIZES = [1, 10, 100, 1_000] as const;
/** Batches per size: enough for a stable median without making the seed's 1,000 take minutes. */
const HANDLER_BATCHES: Record<number, number> = { 1: 200, 10: 100, 100: 40, 1000: 10 };
const SEED_BATCHES: Record<number, number> = { 1: 50, 10: 15, 100: 4, 1000: 1 };
const WARMUP_BATCHES = 3;
const GOAL_BATCH = 100;
const GOAL_COMMANDS_PER_EVENT = 0.3;

type Handler = (event: MSKEvent, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;

/** Dates far from real data (unique per run), so the run's counters can be deleted afterwards. */
const benchDates = (random: () => number): string[] => {
  const start = Date.UTC(2190, 0, 1) + Math.floor(random() * 3_000) * 86_400_000;
  return [0, 1, 2, 3].map((day) => new Date(start + day * 86_400_000).toISOString().slice(0, 10));
};

const decode = (event: MSKEvent): AnalyticsEvent[] =>
  Object.values(event.records).flatMap((records) =>
    records.map(
      (record) => JSON.parse(Buffer.from(record.value, 'base64').toString()) as AnalyticsEvent,
    ),
  );

/** The seed's processAnalytics, literally: each command awaited as its own HTTP request. */
const seedIngest = async (redis: Redis, event: MSKEvent): Promise<void> => {
  for (const analytics of decode(event)) {
    const day = analytics.timestamp.slice(0, 10);
    await redis.incr(`analytics:daily:${day}:total_events`);
    if (analytics.type === 'USER_ACTION') {
      await redis.incr(`analytics:daily:${day}:user_actions`);
      await redis.incr(`analytics:daily:${day}:action:${analytics.action}`);
    }
    if (analytics.userId) await redis.sadd(`analytics:daily:${day}:active_users`, analytics.userId);
  }
};

interface Measured {
  size: number;
  approach: 'processAnalytics' | 'seed (literal)';
  batches: number;
  requestsPerBatch: number;
  commandsPerBatch: number;
  commandsPerEvent: number;
  keysPerBatch: number;
  p50Ms: number;
  p99Ms: number;
  eventsPerSecond: number;
}

const measure = async (
  approach: Measured['approach'],
  size: number,
  batches: readonly MSKEvent[],
  ingest: (event: MSKEvent) => Promise<unknown>,
  gateway: { reset(): Promise<void>; counts(): Promise<GatewayCounts> },
): Promise<Measured> => {
  await gateway.reset();
  const samples: number[] = [];
  for (const batch of batches) {
    const started = performance.now();
    await ingest(batch);
    samples.push(performance.now() - started);
  }
  const counts = await gateway.counts();
  const { p50, p99 } = summarize(samples);
  const events = batches.length * size;
  const keys = batches.reduce((sum, batch) => sum + dailyKeysTouched(decode(batch)), 0);
  return {
    size,
    approach,
    batches: batches.length,
    requestsPerBatch: counts.requests / batches.length,
    commandsPerBatch: counts.commands / batches.length,
    commandsPerEvent: counts.commands / events,
    keysPerBatch: keys / batches.length,
    p50Ms: p50,
    p99Ms: p99,
    eventsPerSecond: (events / samples.reduce((sum, ms) => sum + ms, 0)) * 1000,
  };
};

const runAnalytics = async () =>
  withStack(async (stack) => {
    const gateway = await startCountingGateway(stack);
    const runId = `bench-${randomUUID().slice(0, 8)}`;
    const random = seededRandom(7);
    const [handlerDay1, handlerDay2, seedDay1, seedDay2] = benchDates(seededRandom(Date.now()));
    const handlerDates = [handlerDay1, handlerDay2] as string[];
    const seedDates = [seedDay1, seedDay2] as string[];
    const inspector = plainRedis(gateway.url, gateway.token);
    useFunctionEnv(
      functionEnv(stack, {
        UPSTASH_REDIS_REST_URL: gateway.url,
        UPSTASH_REDIS_REST_TOKEN: gateway.token,
      }),
    );
    const { handler } = (await import('../functions/process-analytics.ts')) as unknown as {
      handler: Handler;
    };
    const topic = `bench.analytics.${runId}`;
    const offsets = new Map<number, number>();
    let nextId = 0;
    let handlerEvents = 0;
    const batchesOf = (size: number, count: number, dates: string[]) =>
      Array.from({ length: count }, () => {
        const events = analyticsEvents(random, size, dates, runId, nextId);
        nextId += size;
        return mskEventOf(topic, events, offsets, { correlationId: runId });
      });
    const callHandler = async (event: MSKEvent) => {
      const response = (await handler(event, lambdaContext('processAnalytics'))) as {
        batchItemFailures?: unknown[];
      };
      if ((response?.batchItemFailures?.length ?? 0) > 0) {
        throw new Error(`processAnalytics reported failures: ${JSON.stringify(response)}`);
      }
      handlerEvents += Object.values(event.records).reduce((sum, list) => sum + list.length, 0);
    };
    const seedRedis = plainRedis(gateway.url, gateway.token);
    try {
      const rows: Measured[] = [];
      for (const size of BATCH_SIZES) {
        for (const warmup of batchesOf(size, WARMUP_BATCHES, handlerDates))
          await callHandler(warmup);
        rows.push(
          await measure(
            'processAnalytics',
            size,
            batchesOf(size, HANDLER_BATCHES[size] ?? 1, handlerDates),
            callHandler,
            gateway,
          ),
        );
        await seedIngest(seedRedis, batchesOf(1, 1, seedDates)[0] as MSKEvent);
        rows.push(
          await measure(
            'seed (literal)',
            size,
            batchesOf(size, SEED_BATCHES[size] ?? 1, seedDates),
            (event) => seedIngest(seedRedis, event),
            gateway,
          ),
        );
      }
      const stored = await Promise.all(
        handlerDates.map((day) => inspector.get<number>(`analytics:daily:${day}:total_events`)),
      );
      const counted = stored.reduce<number>((sum, value) => sum + Number(value ?? 0), 0);
      return { rows, handlerEvents, counted };
    } finally {
      await deleteKeysMatching(inspector, [
        ...[...handlerDates, ...seedDates].map((day) => `*${day}*`),
        `*${runId}*`,
      ]).catch((error: unknown) => console.warn(`bench: cleanup failed: ${String(error)}`));
      await gateway.stop();
    }
  });

const tablesOf = (rows: Measured[], handlerEvents: number, counted: number): Table[] => [
  {
    title: 'Cost per batch (processAnalytics against the seed, same run, same gateway)',
    columns: [
      'batch',
      'approach',
      'batches timed',
      'HTTP requests / batch',
      'Redis commands / batch',
      'commands / event',
      'daily keys / batch',
      'handler p50 ms',
      'handler p99 ms',
      'events/s',
    ],
    rows: rows.map((row) => [
      fmt(row.size),
      row.approach,
      fmt(row.batches),
      fmt(row.requestsPerBatch, 2),
      fmt(row.commandsPerBatch, 1),
      fmt(row.commandsPerEvent, 3),
      fmt(row.keysPerBatch, 1),
      fmt(row.p50Ms, 2),
      fmt(row.p99Ms, 2),
      fmt(row.eventsPerSecond),
    ]),
    notes: [
      "Requests and commands are counted by a gateway of the benchmark's own (local/upstash-gateway, own process, same Redis), so other users of the stack do not show up in them; a script (EVAL/EVALSHA) counts as one command there, whatever it runs inside Redis.",
      'daily keys / batch: distinct analytics:daily:* keys the batch touches (2 days x total, user_actions, one per action, the action-name set, active_users): the floor for one write per key.',
      `Check: the handler's two days hold ${fmt(counted)} total_events for the ${fmt(handlerEvents)} events it was given (warm-up batches included).`,
    ],
  },
  {
    title: 'Seed ÷ processAnalytics (how many times cheaper the handler is)',
    columns: ['batch', 'HTTP requests', 'Redis commands', 'handler time p50'],
    rows: BATCH_SIZES.map((size) => {
      const handler = rows.find((row) => row.size === size && row.approach === 'processAnalytics');
      const seed = rows.find((row) => row.size === size && row.approach === 'seed (literal)');
      if (!handler || !seed) return [fmt(size), '-', '-', '-'];
      return [
        fmt(size),
        ratio(seed.requestsPerBatch / handler.requestsPerBatch, 1),
        ratio(seed.commandsPerBatch / handler.commandsPerBatch, 1),
        ratio(seed.p50Ms / handler.p50Ms, 1),
      ];
    }),
  },
];

const goalsOf = (rows: Measured[], handlerEvents: number, counted: number): Goal[] => {
  const atGoal = rows.find((row) => row.size === GOAL_BATCH && row.approach === 'processAnalytics');
  if (!atGoal) return [];
  const perKey = atGoal.commandsPerBatch / atGoal.keysPerBatch;
  return [
    {
      goal: `1 Redis HTTP request per batch (batch ${GOAL_BATCH})`,
      measured: `${fmt(atGoal.requestsPerBatch, 2)} requests / batch`,
      met: atGoal.requestsPerBatch <= 1,
      why: `processAnalytics made ${fmt(atGoal.requestsPerBatch, 2)} requests per batch of ${GOAL_BATCH}; the batch's writes are not all in one pipeline or script.`,
    },
    {
      goal: `<= ${GOAL_COMMANDS_PER_EVENT} Redis commands per event (batch ${GOAL_BATCH})`,
      measured: `${fmt(atGoal.commandsPerEvent, 3)} commands / event`,
      met: atGoal.commandsPerEvent <= GOAL_COMMANDS_PER_EVENT,
      why: `${fmt(atGoal.commandsPerBatch, 1)} commands per batch for the ${fmt(atGoal.keysPerBatch, 1)} distinct daily keys a mixed batch of ${GOAL_BATCH} touches (${fmt(perKey, 2)} per key): ${GOAL_COMMANDS_PER_EVENT} per event allows ${GOAL_COMMANDS_PER_EVENT * GOAL_BATCH} per batch, fewer than the keys, so per-key commands (even aggregated, in one pipeline) cannot meet it; one script per batch (EVAL, counted once) can.`,
    },
    {
      goal: 'every event counted once',
      measured: `${fmt(counted)} counted / ${fmt(handlerEvents)} sent`,
      met: counted === handlerEvents,
      why: 'total_events of the two days differs from the events given to the handler.',
    },
  ];
};

export const analyticsBenchmark: Benchmark = {
  name: 'analytics',
  title: 'Analytics ingestion cost',
  summary:
    'processAnalytics per batch of 1/10/100/1,000: Redis requests, commands, handler time, against the seed (one command per request)',
  options: () => ({
    batchSizes: BATCH_SIZES,
    handlerBatches: HANDLER_BATCHES,
    seedBatches: SEED_BATCHES,
  }),
  run: async () => {
    const { rows, handlerEvents, counted } = await runAnalytics();
    return {
      tables: tablesOf(rows, handlerEvents, counted),
      goals: goalsOf(rows, handlerEvents, counted),
      data: { rows, handlerEvents, counted },
    };
  },
};
