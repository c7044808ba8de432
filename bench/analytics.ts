import { randomUUID } from 'node:crypto';
import type { Redis } from '@upstash/redis';
import type { MSKEvent } from 'aws-lambda';
import { type AnalyticsSlice, analyticsBatchRequest } from '../lib/analytics/analytics.ts';
import { APPLY_ANALYTICS_BATCH } from '../lib/analytics/batch-script.ts';
import { holdAnalyticsEvents, holdArguments, holdEvents } from '../lib/analytics/dedup.ts';
import type { AnalyticsEvent } from '../lib/analytics/schema.ts';
import { runCommand } from '../local/embedded/redis-commands.ts';
import { Keyspace } from '../local/embedded/redis-keyspace.ts';
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
/** Redis commands per event as Upstash bills them (a script is one command), at GOAL_BATCH. */
const GOAL_COMMANDS_PER_EVENT = 0.02;

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

type Approach =
  | 'processAnalytics'
  | 'processAnalytics, drained replays (marked, held)'
  | 'processAnalytics, second copies (marked)'
  | 'seed (literal)';

interface Measured {
  size: number;
  approach: Approach;
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
  approach: Approach,
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
    const batchesOf = (size: number, count: number, dates: string[], possibleDuplicate = false) =>
      Array.from({ length: count }, () => {
        const events = analyticsEvents(random, size, dates, runId, nextId);
        nextId += size;
        return mskEventOf(topic, events, offsets, { correlationId: runId, possibleDuplicate });
      });
    const callHandler = async (event: MSKEvent, { newEvents = true } = {}) => {
      const response = (await handler(event, lambdaContext('processAnalytics'))) as {
        batchItemFailures?: unknown[];
      };
      if ((response?.batchItemFailures?.length ?? 0) > 0) {
        throw new Error(`processAnalytics reported failures: ${JSON.stringify(response)}`);
      }
      if (newEvents)
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
      // What checking by eventId costs when it has work to do: batches that are all the
      // drain's replays (marked, and held as the drain holds them before sending; the holds
      // are written before the timing starts), first of events never counted, then second
      // copies of them at new offsets (none counted again).
      const replayed = batchesOf(GOAL_BATCH, HANDLER_BATCHES[GOAL_BATCH] ?? 1, handlerDates, true);
      for (const batch of replayed) await holdAnalyticsEvents(inspector, decode(batch));
      rows.push(
        await measure(
          'processAnalytics, drained replays (marked, held)',
          GOAL_BATCH,
          replayed,
          callHandler,
          gateway,
        ),
      );
      const copies = replayed.map((batch) =>
        mskEventOf(topic, decode(batch), offsets, {
          correlationId: runId,
          possibleDuplicate: true,
        }),
      );
      rows.push(
        await measure(
          'processAnalytics, second copies (marked)',
          GOAL_BATCH,
          copies,
          (event) => callHandler(event, { newEvents: false }),
          gateway,
        ),
      );
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

/** The batch's records as processAnalytics hands them to applyAnalyticsBatch. */
const slicesOf = (event: MSKEvent): AnalyticsSlice[] =>
  Object.values(event.records).map((records) => ({
    cluster: event.eventSourceArn,
    topic: records[0]?.topic ?? '',
    partition: records[0]?.partition ?? 0,
    firstOffset: records[0]?.offset ?? 0,
    lastOffset: records.at(-1)?.offset ?? 0,
    events: records.map((record) => ({
      offset: record.offset,
      event: JSON.parse(Buffer.from(record.value, 'base64').toString()) as AnalyticsEvent,
      recordTimestamp: record.timestamp,
      possibleDuplicate: record.headers.some((header) => 'x-narad-possible-duplicate' in header),
    })),
  }));

interface InsideScript {
  scenario: string;
  total: number;
  /** On the keys of de-duplication by eventId (analytics:recent:*, analytics:event:*). */
  dedup: number;
}

/**
 * What the batch script runs inside Redis for one batch of GOAL_BATCH (the gateway counts a
 * script as one command, whatever it runs): its JavaScript mirror over the embedded store,
 * counting each command it issues and which keys it touches.
 */
const insideScript = (): InsideScript[] => {
  const random = seededRandom(11);
  const dates = ['2190-06-01', '2190-06-02'];
  const run = (keyspace: Keyspace, event: MSKEvent, scenario: string): InsideScript => {
    const counted: InsideScript = { scenario, total: 0, dedup: 0 };
    const { keys, args } = analyticsBatchRequest(slicesOf(event), Date.now());
    APPLY_ANALYTICS_BATCH.emulate(
      (command, ...rest) => {
        counted.total += 1;
        if (rest.some((key) => /^analytics:(recent|event):/.test(String(key)))) counted.dedup += 1;
        return runCommand(keyspace, [command, ...rest.map(String)]);
      },
      keys,
      args,
    );
    return counted;
  };
  const events = analyticsEvents(random, GOAL_BATCH, dates, 'inside', 0);
  const marked = (offsets: Map<number, number>) =>
    mskEventOf('bench.inside', events, offsets, { possibleDuplicate: true });
  const counted = new Keyspace();
  const plainOffsets = new Map<number, number>();
  const plain = run(
    counted,
    mskEventOf('bench.inside', events, plainOffsets),
    'new events (the normal path)',
  );
  const copies = run(
    counted,
    marked(plainOffsets),
    'second copies of those (marked, no hold), none counted',
  );
  const held = new Keyspace();
  const { keys, args } = holdArguments(
    events.map(({ eventId }) => eventId),
    Date.now(),
  );
  const window = Number(args[0]);
  holdEvents(
    (command, ...rest) => runCommand(held, [command, ...rest.map(String)]),
    keys.slice(0, window),
    keys.slice(window),
    args.slice(2),
    String(args[1]),
  );
  const drained = run(held, marked(new Map()), 'drained replays of new events (marked, held)');
  const resent = run(
    new Keyspace(),
    marked(new Map()),
    're-sent after a producer reset (marked, no hold)',
  );
  return [plain, drained, resent, copies];
};

const tablesOf = (
  rows: Measured[],
  handlerEvents: number,
  counted: number,
  inside: InsideScript[],
): Table[] => [
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
    title: `Inside the batch script, per batch of ${GOAL_BATCH} (its JavaScript mirror, counting what it runs)`,
    columns: [
      'batch',
      'commands inside the script',
      'of them for de-duplication by eventId',
      'de-duplication commands / event',
    ],
    rows: inside.map((row) => [
      row.scenario,
      fmt(row.total),
      fmt(row.dedup),
      fmt(row.dedup / GOAL_BATCH, 3),
    ]),
    notes: [
      'Upstash bills a script as one command; inside it Redis runs these. The normal path adds one EXISTS over the holds, a TYPE check, a SADD and an EXPIRE of the current recent-trace set; a marked record adds a GET of its hold, then (without a hold: the producer’s re-send after a reset) a SISMEMBER per recent-trace set of the window (4-5), and a SET of its hold when counted. A record the drain replays has a hold (the drain writes it before sending): GET and SET only.',
      'The counter side (a GET or TYPE check of each key before the first write, INCRBY, SADD, EXPIRE, the applied offsets) is the same with or without the de-duplication.',
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
    const inside = insideScript();
    return {
      tables: tablesOf(rows, handlerEvents, counted, inside),
      goals: goalsOf(rows, handlerEvents, counted),
      data: { rows, handlerEvents, counted, inside },
    };
  },
};
