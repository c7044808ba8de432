import { randomUUID } from 'node:crypto';
import { Redis } from '@upstash/redis';
import autocannon from 'autocannon';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { Partitioners } from 'kafkajs';
import { startOffline } from '../local/offline.ts';
import type { StackEndpoints } from '../local/stack.ts';
import { type Benchmark, intFlag } from './support/benchmark.ts';
import { benchKafka, benchTopic, withTopic } from './support/kafka.ts';
import { lambdaContext, loadEvent } from './support/lambda.ts';
import type { Goal, Table } from './support/report.ts';
import { functionEnv, useFunctionEnv, withStack } from './support/stack.ts';
import { fmt, ratio, summarize } from './support/stats.ts';

/**
 * HTTP latency. In-process: the four hot routes' real handlers, imported and warm, called
 * sequentially, against the floor measured in the same run and on the same stack (one kafkajs
 * send + one @upstash/redis command, which is what accepting an order physically needs).
 * Paths are interleaved in rounds so a burst of load elsewhere hits all of them alike.
 * Then over HTTP through `serverless offline` with autocannon at 10 and 50 connections.
 */

const DEFAULT_CALLS = 2_000;
const ROUNDS = 10;
const WARMUP_CALLS = 50;
const GOAL_P99_RATIO = 1.5;
const OFFLINE_CONNECTIONS = [10, 50] as const;
const OFFLINE_SECONDS = 5;
const BENCH_USER = 'bench-http-user';

type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

const ORDER_BODY = JSON.stringify({
  userId: BENCH_USER,
  items: [
    { sku: 'SKU-RED-MUG', quantity: 2, price: 12.5 },
    { sku: 'SKU-TEA-100', quantity: 1, price: 8 },
  ],
  currency: 'EUR',
});
const TRACK_BODY = JSON.stringify({
  userId: BENCH_USER,
  action: 'bench_http',
  data: { sku: 'SKU-RED-MUG' },
});

/** The sample events of events/, made into the requests the benchmark sends. */
const requestEvents = (orderId: string) => {
  const createOrder = loadEvent<APIGatewayProxyEventV2>('http-post-orders.json');
  delete createOrder.headers['idempotency-key']; // every call is a new order
  createOrder.body = ORDER_BODY;
  const getOrder = loadEvent<APIGatewayProxyEventV2>('http-get-order.json');
  getOrder.pathParameters = { orderId };
  getOrder.rawPath = `/orders/${orderId}`;
  getOrder.requestContext.http.path = getOrder.rawPath;
  const track = loadEvent<APIGatewayProxyEventV2>('http-post-analytics-events.json');
  track.body = TRACK_BODY;
  return {
    createOrder,
    getOrder,
    track,
    health: loadEvent<APIGatewayProxyEventV2>('http-get-health.json'),
  };
};

interface Path {
  name: string;
  call: () => Promise<void>;
}

interface Latency {
  path: string;
  calls: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  failures: number;
}

/** A handler call that counts a response other than `expected` as a failure. */
const handlerPath = (
  name: string,
  handler: HttpHandler,
  event: APIGatewayProxyEventV2,
  expected: number,
  failures: Map<string, number>,
): Path => ({
  name,
  call: async () => {
    const response = await handler(structuredClone(event), lambdaContext(name));
    if (response.statusCode !== expected) failures.set(name, (failures.get(name) ?? 0) + 1);
  },
});

/** Every path `calls` times, in `ROUNDS` interleaved rounds, after a warm-up. */
const measurePaths = async (paths: Path[], calls: number): Promise<Map<string, number[]>> => {
  const samples = new Map(paths.map((path) => [path.name, [] as number[]]));
  for (const path of paths) for (let i = 0; i < WARMUP_CALLS; i += 1) await path.call();
  const perRound = Math.ceil(calls / ROUNDS);
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const path of paths) {
      const list = samples.get(path.name) as number[];
      for (let i = 0; i < perRound && list.length < calls; i += 1) {
        const started = performance.now();
        await path.call();
        list.push(performance.now() - started);
      }
    }
  }
  return samples;
};

const inProcess = async (stack: StackEndpoints, calls: number) => {
  useFunctionEnv(functionEnv(stack));
  const imported = async (file: string) =>
    ((await import(`../functions/${file}`)) as { handler: HttpHandler }).handler;
  const createOrder = await imported('create-order.ts');
  const getOrder = await imported('get-order.ts');
  const trackEvents = await imported('track-events.ts');
  const health = await imported('health.ts');
  const { closeServices } = await import('../lib/services.ts');
  const first = await createOrder(requestEvents('x').createOrder, lambdaContext('createOrder'));
  const orderId = (JSON.parse(String(first.body)) as { orderId?: string }).orderId;
  if (!orderId) throw new Error(`POST /orders answered ${first.statusCode}: ${first.body}`);
  const events = requestEvents(orderId);

  const topic = benchTopic('http-floor');
  return withTopic(stack.kafkaBrokers, topic, 3, async () => {
    // The floor: the same clients the functions use, with the producer settings of
    // lib/services.ts (idempotent, acks=all), doing the least an order needs.
    const producer = benchKafka(stack.kafkaBrokers).producer({
      idempotent: true,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const redis = new Redis({
      url: stack.upstashUrl,
      token: stack.upstashToken,
      enableAutoPipelining: false,
    });
    const send = () =>
      producer.send({ topic, acks: -1, messages: [{ key: randomUUID(), value: ORDER_BODY }] });
    const command = () => redis.set(`bench:http-floor:${randomUUID()}`, ORDER_BODY, { ex: 10 });
    const failures = new Map<string, number>();
    const paths: Path[] = [
      {
        name: 'floor: kafkajs send + @upstash/redis SET',
        call: async () => {
          await send();
          await command();
        },
      },
      { name: 'floor part: kafkajs send', call: async () => void (await send()) },
      { name: 'floor part: @upstash/redis SET', call: async () => void (await command()) },
      handlerPath('POST /orders', createOrder, events.createOrder, 202, failures),
      handlerPath('GET /orders/{id}', getOrder, events.getOrder, 200, failures),
      handlerPath('POST /analytics/events', trackEvents, events.track, 202, failures),
      handlerPath('GET /health', health, events.health, 200, failures),
    ];
    try {
      const samples = await measurePaths(paths, calls);
      return {
        orderId,
        latencies: paths.map(({ name }): Latency => {
          const summary = summarize(samples.get(name) ?? []);
          return {
            path: name,
            calls: summary.count,
            ...summary,
            failures: failures.get(name) ?? 0,
          };
        }),
      };
    } finally {
      await producer.disconnect();
      await closeServices();
      await redis.del(`user:${BENCH_USER}:recent_activity`).catch(() => undefined);
    }
  });
};

interface Load {
  route: string;
  connections: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

/**
 * serverless offline runs each concurrent request in a worker of its own (a Lambda instance),
 * started cold on first use: `connections` requests at once, twice, start and warm as many
 * workers as the measured run will use, whatever the machine's load.
 */
const warmWorkers = async (
  url: string,
  method: string,
  body: string | undefined,
  connections: number,
) => {
  for (let round = 0; round < 2; round += 1) {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        const response = await fetch(url, {
          method,
          headers: { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body }),
          signal: AbortSignal.timeout(120_000),
        });
        await response.body?.cancel();
      }),
    );
  }
};

const overOffline = async (stack: StackEndpoints, orderId: string): Promise<Load[]> => {
  const httpPort = Number(process.env.E2E_HTTP_PORT || 3400);
  const offline = await startOffline({
    httpPort,
    lambdaPort: httpPort + 2,
    // Workers of a route already measured are let go while the next route runs, so at most
    // one route's workers (up to 50 isolates) hold memory at a time.
    args: ['--terminateIdleLambdaTime', '10'],
    env: {
      ...functionEnv(stack),
      NODE_ENV: 'development',
      ESBUILD_WORK_FOLDER: process.env.ESBUILD_WORK_FOLDER || '.esbuild-bench',
    },
  });
  const routes = [
    { route: 'POST /orders', path: '/orders', method: 'POST' as const, body: ORDER_BODY },
    { route: 'GET /orders/{id}', path: `/orders/${orderId}`, method: 'GET' as const },
    {
      route: 'POST /analytics/events',
      path: '/analytics/events',
      method: 'POST' as const,
      body: TRACK_BODY,
    },
    { route: 'GET /health', path: '/health', method: 'GET' as const },
  ];
  const loads: Load[] = [];
  try {
    for (const { route, path, method, body } of routes) {
      for (const connections of OFFLINE_CONNECTIONS) {
        const options = {
          url: `${offline.url}${path}`,
          method,
          connections,
          headers: { 'content-type': 'application/json' },
          ...(body === undefined ? {} : { body }),
        };
        await warmWorkers(options.url, method, body, connections);
        const result = await autocannon({ ...options, duration: OFFLINE_SECONDS });
        loads.push({
          route,
          connections,
          requestsPerSecond: result.requests.average,
          p50: result.latency.p50,
          p99: result.latency.p99,
          non2xx: result.non2xx,
          errors: result.errors,
        });
      }
    }
  } finally {
    await offline.stop();
  }
  return loads;
};

const ROUTES = ['POST /orders', 'GET /orders/{id}', 'POST /analytics/events', 'GET /health'];
const FLOOR = 'floor: kafkajs send + @upstash/redis SET';

const tablesOf = (latencies: Latency[], loads: Load[], calls: number): Table[] => {
  const floor = latencies.find((row) => row.path === FLOOR) as Latency;
  return [
    {
      title: `In-process, warm, ${fmt(calls)} sequential calls each (ms)`,
      columns: ['path', 'p50', 'p90', 'p99', 'mean', 'p50 / floor', 'p99 / floor', 'failures'],
      rows: latencies.map((row) => [
        row.path,
        fmt(row.p50, 2),
        fmt(row.p90, 2),
        fmt(row.p99, 2),
        fmt(row.mean, 2),
        ratio(row.p50 / floor.p50),
        ratio(row.p99 / floor.p99),
        fmt(row.failures),
      ]),
      notes: [
        'The floor is what accepting an order needs at least: one acknowledged (acks=all, idempotent) kafkajs send and one @upstash/redis command to the same broker and gateway, from the same process.',
        `Paths run interleaved in ${ROUNDS} rounds after ${WARMUP_CALLS} warm-up calls each; LOG_LEVEL=${process.env.LOG_LEVEL || 'WARN'}.`,
      ],
    },
    {
      title: `Through serverless offline over HTTP (autocannon, ${OFFLINE_SECONDS} s per row, after as many concurrent warm-up requests as connections, twice)`,
      columns: ['route', 'connections', 'requests/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors'],
      rows: loads.map((row) => [
        row.route,
        fmt(row.connections),
        fmt(row.requestsPerSecond),
        fmt(row.p50, 0),
        fmt(row.p99, 0),
        fmt(row.non2xx),
        fmt(row.errors),
      ]),
      notes: [
        'serverless offline runs each concurrent request in a worker thread of its own (a Lambda instance), all on the same 2 cores as autocannon, the broker, Redis and the gateway: these figures show where the machine saturates, not Lambda throughput.',
      ],
    },
  ];
};

const goalsOf = (latencies: Latency[]): Goal[] => {
  const floor = latencies.find((row) => row.path === FLOOR) as Latency;
  const part = (name: string) => latencies.find((row) => row.path === name) as Latency;
  return ROUTES.map((route) => {
    const row = part(route);
    const achieved = row.p99 / floor.p99;
    return {
      goal: `${route}: p99 <= ${GOAL_P99_RATIO}x the floor's p99`,
      measured: `${ratio(achieved)} (${fmt(row.p99, 2)} ms vs ${fmt(floor.p99, 2)} ms)`,
      met: achieved <= GOAL_P99_RATIO && row.failures === 0,
      why:
        row.failures > 0
          ? `${row.failures} calls did not answer the expected status.`
          : route === 'GET /health'
            ? `/health does more than the floor by design: a Kafka DescribeCluster then a send (two Kafka round trips) beside one SET/GET/DEL MULTI (${fmt(part('floor part: @upstash/redis SET').p50, 2)} ms at p50 here), where the floor has one send and one command (lib/health.ts).`
            : `p50 ${fmt(row.p50, 2)} ms against the floor's ${fmt(floor.p50, 2)} ms; see the floor's parts for what one round trip costs here.`,
    };
  });
};

export const httpBenchmark: Benchmark = {
  name: 'http',
  title: 'HTTP latency',
  summary:
    'POST /orders, GET /orders/{id}, POST /analytics/events, GET /health in-process (p50/p99 against the floor) and through serverless offline (autocannon)',
  options: (flags) => ({
    calls: intFlag(flags, 'calls', DEFAULT_CALLS),
    offline: flags['skip-offline'] !== true,
    httpPort: Number(process.env.E2E_HTTP_PORT || 3400),
    logLevel: process.env.LOG_LEVEL || 'WARN',
  }),
  run: async (options) => {
    const calls = Number(options.calls);
    const { latencies, loads } = await withStack(async (stack) => {
      const measured = await inProcess(stack, calls);
      const offline = options.offline ? await overOffline(stack, measured.orderId) : [];
      return { latencies: measured.latencies, loads: offline };
    });
    return {
      tables: tablesOf(latencies, loads, calls),
      goals: goalsOf(latencies),
      data: { latencies, loads },
    };
  },
};
