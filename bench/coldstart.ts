import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import type { StackEndpoints } from '../local/stack.ts';
import type { Benchmark } from './support/benchmark.ts';
import {
  esbuildOptionsFromServerless,
  type PackagedFunction,
  packageFunctions,
} from './support/bundles.ts';
import { type Goal, REPO_ROOT, type Table } from './support/report.ts';
import { withStack } from './support/stack.ts';
import { fmt, ratio, summarize } from './support/stats.ts';

/**
 * Cold start: each function's bundle exactly as `serverless package` builds it (size, zip
 * size), and its module init time: a fresh `node` requiring the bundle, 20 times, median.
 * Checks beside it, from bundles outside the repository: init loads no AWS SDK; with
 * MSK_CLUSTER_ARN the packaged health function still discovers the brokers (a local stand-in
 * for the MSK API, the real broker behind its answer); MSK IAM still signs a token. Where the
 * SDK must come from "the runtime", NODE_PATH points at this repository's node_modules, as
 * Lambda's points at /var/runtime/node_modules.
 */

const exec = promisify(execFile);
const INIT_RUNS = 20;
const GOAL_BUNDLE_BYTES = 300 * 1024;
const GOAL_INIT_MS = 60;
/** A function's init at most this many times its import floor's. */
const GOAL_FLOOR_RATIO = 1.3;
/**
 * The clients a function may need, each with what its code imports from it. A function needs
 * one when at least CLIENT_MIN_BYTES of it are in its bundle (openapi has 2 KB of
 * @upstash/redis's error classes, not the client).
 */
const CLIENTS: Record<string, string> = {
  kafkajs: 'Kafka',
  '@upstash/redis': 'Redis',
  '@upstash/ratelimit': 'Ratelimit',
};
const CLIENT_MIN_BYTES = 10 * 1024;
const CLUSTER_ARN =
  'arn:aws:kafka:eu-west-1:123456789012:cluster/narad-bench/00000000-0000-0000-0000-000000000000-1';
const FAKE_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

/** Runs in a fresh node: requires the bundle and reports how long that took. */
const INIT_PROBE = `
const started = performance.now();
require(process.argv[1]);
const initMs = performance.now() - started;
const sdkModules = Object.keys(require.cache).filter((file) => file.includes('/@aws-sdk/')).length;
process.stdout.write(JSON.stringify({ initMs, sdkModules }));
`;

/** Runs in a fresh node: requires the health bundle, then invokes it once. */
const HEALTH_PROBE = `
const sdk = () => Object.keys(require.cache).filter((file) => file.includes('/@aws-sdk/client-kafka/')).length;
const { handler } = require(process.argv[1]);
const afterInit = sdk();
const event = require(process.argv[2]);
const context = { functionName: 'health', awsRequestId: 'bench', getRemainingTimeInMillis: () => 10000 };
handler(event, context).then((response) => {
  const body = JSON.parse(response.body);
  process.stdout.write(JSON.stringify({ status: response.statusCode, kafka: body.services.kafka, afterInit, afterCall: sdk() }));
  process.exit(0);
});
`;

/** Runs in a fresh node: the IAM SASL provider of a bundle of lib/kafka/auth.ts signs a token. */
const IAM_PROBE = `
const { saslOptionsOf } = require(process.argv[1]);
const options = saslOptionsOf({ sasl: { mechanism: 'aws-iam' }, region: 'eu-west-1' });
options.oauthBearerProvider().then(({ value }) => {
  const url = new URL(Buffer.from(value, 'base64url').toString());
  process.stdout.write(JSON.stringify({ action: url.searchParams.get('Action'), signed: /^[0-9a-f]{64}$/.test(url.searchParams.get('X-Amz-Signature') ?? '') }));
  process.exit(0);
});
`;

const probe = async <T>(code: string, args: string[], env: Record<string, string>) => {
  const { stdout } = await exec(process.execPath, ['-e', code, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    cwd: '/',
    timeout: 60_000,
  });
  return JSON.parse(stdout) as T;
};

/** The environment a deployed function has, minus anything that would connect at init. */
const INIT_ENV = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
  UPSTASH_REDIS_REST_TOKEN: 'narad-local-token',
  LOG_LEVEL: 'WARN',
};

interface InitTimes {
  medianMs: number;
  p90Ms: number;
  sdkModulesAtInit: number;
}

/** INIT_RUNS fresh processes per bundle, in rounds over all of them (noise hits all alike). */
const initTimes = async (
  functions: Array<{ name: string; bundle: string }>,
): Promise<Map<string, InitTimes>> => {
  const samples = new Map(functions.map((fn) => [fn.name, [] as number[]]));
  const sdk = new Map(functions.map((fn) => [fn.name, 0]));
  for (let round = 0; round < INIT_RUNS; round += 1) {
    for (const fn of functions) {
      const result = await probe<{ initMs: number; sdkModules: number }>(
        INIT_PROBE,
        [fn.bundle],
        INIT_ENV,
      );
      samples.get(fn.name)?.push(result.initMs);
      sdk.set(fn.name, Math.max(sdk.get(fn.name) ?? 0, result.sdkModules));
    }
  }
  return new Map(
    functions.map((fn) => {
      const { p50, p90 } = summarize(samples.get(fn.name) ?? []);
      return [fn.name, { medianMs: p50, p90Ms: p90, sdkModulesAtInit: sdk.get(fn.name) ?? 0 }];
    }),
  );
};

/**
 * Bytes per package of a function's bundle (esbuild metafile, same options), and the packages
 * it loads at init: those reached from the handler without crossing an `import()` (the
 * functions load some clients only on first use, lib/consumer-services.ts).
 */
const bundleParts = async (
  fn: PackagedFunction,
): Promise<{ parts: Map<string, number>; atInit: Set<string> }> => {
  const result = await build({
    ...esbuildOptionsFromServerless(),
    entryPoints: [join(REPO_ROOT, fn.handler.replace(/\.[^.]+$/, '.ts'))],
    outfile: join(REPO_ROOT, '.esbuild-bench', 'metafile', `${fn.name}.cjs`),
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const partOf = (file: string) =>
    /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? 'project code';
  const output = Object.values(result.metafile.outputs)[0];
  const parts = new Map<string, number>();
  for (const [file, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    parts.set(partOf(file), (parts.get(partOf(file)) ?? 0) + bytesInOutput);
  }
  const { inputs } = result.metafile;
  const entry = output?.entryPoint ?? '';
  const reached = new Set([entry]);
  const queue = [entry];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    for (const { path, kind, external } of inputs[file]?.imports ?? []) {
      if (external || kind === 'dynamic-import' || reached.has(path)) continue;
      reached.add(path);
      queue.push(path);
    }
  }
  return { parts, atInit: new Set([...reached].map(partOf)) };
};

/** The three largest packages of a bundle. */
const largestParts = (parts: Map<string, number>): string =>
  [...parts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([part, bytes]) => `${part} ${fmt(bytes / 1024)}`)
    .join(', ');

/** How a floor names a client that its function's bundle holds but loads on first use. */
const ON_FIRST_USE = ' (on first use)';

/**
 * The clients (CLIENTS) a function's bundle holds, those it loads only on first use marked
 * with ON_FIRST_USE: its import floor loads them the same way.
 */
const clientsOf = ({ parts, atInit }: Awaited<ReturnType<typeof bundleParts>>): string[] =>
  Object.keys(CLIENTS)
    .filter((client) => (parts.get(client) ?? 0) >= CLIENT_MIN_BYTES)
    .map((client) => (atInit.has(client) ? client : `${client}${ON_FIRST_USE}`));

/**
 * What every function imports beside its clients, each added to an import floor in a variant
 * of its own (same rounds), so the init over the floor can be split: the logger (lib/log.ts
 * creates it at import) with metrics (lib/metrics.ts subclasses Metrics at import), and zod/mini
 * as lib/zod.ts sets it up (English messages), with one small schema built at import, as lib/
 * builds its schemas.
 */
const EXTRAS = {
  'logger & metrics': [
    `import { Logger } from '@aws-lambda-powertools/logger';`,
    `import { Metrics } from '@aws-lambda-powertools/metrics';`,
    `export const logger = new Logger({ serviceName: 'floor' });`,
    'export class FloorMetrics extends Metrics {}',
  ],
  'zod/mini': [
    `import * as z from './lib/zod.ts';`,
    'export const schema = z.object({ id: z.string().check(z.regex(/^[a-z]+$/)), n: z.int() });',
  ],
} as const;
type Extra = keyof typeof EXTRAS;
/** The package that tells whether a bundle holds an extra (at least CLIENT_MIN_BYTES of it). */
const EXTRA_PACKAGES: Record<Extra, string> = {
  'logger & metrics': '@aws-lambda-powertools/logger',
  'zod/mini': 'zod',
};
/** The variants of each import floor: none, each extra alone, all of them. */
const FLOOR_VARIANTS: Extra[][] = [
  [],
  ['logger & metrics'],
  ['zod/mini'],
  ['logger & metrics', 'zod/mini'],
];

interface ImportFloor {
  name: string;
  clients: string[];
  extras: Extra[];
  bundle: string;
  bundleBytes: number;
}

const floorName = (clients: string[], extras: Extra[] = []): string =>
  [clients.length === 0 ? 'no client' : clients.join(' + '), ...extras].join(' + ');

/**
 * The import floor of a set of clients: a bare handler that imports them (and `extras`) and
 * does nothing else, bundled with the functions' esbuild options (custom.esbuild), outside the
 * repository.
 */
const buildImportFloor = async (
  clients: string[],
  extras: Extra[],
  dir: string,
): Promise<ImportFloor> => {
  const name = floorName(clients, extras);
  const imports = clients.map((client, i) =>
    client.endsWith(ON_FIRST_USE)
      ? `const c${i} = () => import('${client.slice(0, -ON_FIRST_USE.length)}');`
      : `import { ${CLIENTS[client]} as c${i} } from '${client}';`,
  );
  const bundle = join(dir, `import-floor-${name.replace(/\W+/g, '-')}.cjs`);
  await build({
    ...esbuildOptionsFromServerless(),
    stdin: {
      contents: [
        ...imports,
        ...extras.flatMap((extra) => EXTRAS[extra]),
        `export const handler = async () => [${clients.map((_, i) => `c${i}`).join(', ')}].length;`,
      ].join('\n'),
      resolveDir: REPO_ROOT,
      loader: 'ts',
    },
    outfile: bundle,
    logLevel: 'silent',
  });
  return { name, clients, extras, bundle, bundleBytes: (await stat(bundle)).size };
};

/** A local stand-in for the MSK API's GetBootstrapBrokers, answering with the stack's broker. */
const fakeMskApi = async (brokers: string) => {
  let requests = 0;
  const server = createServer((request, response) => {
    requests += 1;
    const ok =
      request.method === 'GET' &&
      /^\/v1\/clusters\/[^/]+\/bootstrap-brokers$/.test(request.url ?? '');
    response.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify(ok ? { bootstrapBrokerString: brokers } : { message: 'not found' }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
};

interface Checks {
  discovery: {
    status: number;
    kafka: { status?: string };
    afterInit: number;
    afterCall: number;
    mskRequests: number;
  };
  iam: { action: string | null; signed: boolean };
}

const runChecks = async (health: PackagedFunction, dir: string): Promise<Checks> =>
  withStack(async (stack: StackEndpoints) => {
    const runtimeSdk = { NODE_PATH: join(REPO_ROOT, 'node_modules') };
    const msk = await fakeMskApi(stack.kafkaBrokers);
    let discovery: Checks['discovery'];
    try {
      const answer = await probe<Omit<Checks['discovery'], 'mskRequests'>>(
        HEALTH_PROBE,
        [health.bundle, join(REPO_ROOT, 'events', 'http-get-health.json')],
        {
          ...runtimeSdk,
          ...FAKE_CREDENTIALS,
          MSK_CLUSTER_ARN: CLUSTER_ARN,
          AWS_ENDPOINT_URL_KAFKA: msk.url,
          UPSTASH_REDIS_REST_URL: stack.upstashUrl,
          UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
          LOG_LEVEL: 'CRITICAL',
        },
      );
      discovery = { ...answer, mskRequests: msk.requests() };
    } finally {
      await msk.close();
    }
    const authBundle = join(dir, 'auth.cjs');
    await build({
      ...esbuildOptionsFromServerless(),
      entryPoints: [join(REPO_ROOT, 'lib/kafka/auth.ts')],
      outfile: authBundle,
      logLevel: 'silent',
    });
    const iam = await probe<Checks['iam']>(IAM_PROBE, [authBundle], {
      ...runtimeSdk,
      ...FAKE_CREDENTIALS,
    });
    return { discovery, iam };
  });

export const coldstartBenchmark: Benchmark = {
  name: 'coldstart',
  title: 'Cold start',
  summary: `bundle size as \`serverless package\` builds it, module init (fresh node, median of ${INIT_RUNS}), SDK loaded only for MSK`,
  options: () => ({ initRuns: INIT_RUNS, node: process.version }),
  run: async () => {
    const packaged = await packageFunctions();
    try {
      const parts = new Map<string, string>();
      const clients = new Map<string, string[]>();
      const held = new Map<string, Extra[]>();
      for (const fn of packaged.functions) {
        const bundled = await bundleParts(fn);
        const bytes = bundled.parts;
        parts.set(fn.name, largestParts(bytes));
        clients.set(fn.name, clientsOf(bundled));
        held.set(
          fn.name,
          (Object.keys(EXTRAS) as Extra[]).filter(
            (extra) => (bytes.get(EXTRA_PACKAGES[extra]) ?? 0) >= CLIENT_MIN_BYTES,
          ),
        );
      }
      const floors = new Map<string, ImportFloor>();
      for (const list of clients.values()) {
        for (const extras of FLOOR_VARIANTS) {
          const name = floorName(list, extras);
          if (!floors.has(name))
            floors.set(name, await buildImportFloor(list, extras, packaged.dir));
        }
      }
      const baseFloors = [...floors.values()].filter((floor) => floor.extras.length === 0);
      const times = await initTimes([
        ...packaged.functions,
        ...[...floors.values()].map((floor) => ({
          name: `floor: ${floor.name}`,
          bundle: floor.bundle,
        })),
      ]);
      const health = packaged.functions.find((fn) => fn.name === 'health') as PackagedFunction;
      const checks = await runChecks(health, packaged.dir);
      const floorMs = (name: string) => (times.get(`floor: ${name}`) as InitTimes).medianMs;
      const rows = packaged.functions.map((fn) => {
        const init = times.get(fn.name) as InitTimes;
        const list = clients.get(fn.name) ?? [];
        const floor = floorName(list);
        const base = floorMs(floor);
        // Shares of the init over the floor: each extra the bundle holds, and what they leave.
        const extras = held.get(fn.name) ?? [];
        const over = init.medianMs - base;
        const share = (some: Extra[]) =>
          some.every((extra) => extras.includes(extra))
            ? (floorMs(floorName(list, some)) - base) / over
            : Number.NaN;
        return {
          ...fn,
          ...init,
          floor,
          floorMs: base,
          floorRatio: init.medianMs / base,
          overFloor: {
            loggerAndMetrics: share(['logger & metrics']),
            zod: share(['zod/mini']),
            rest: 1 - (extras.length === 0 ? 0 : share(extras)),
          },
        };
      });
      const percent = (value: number) => (Number.isFinite(value) ? `${fmt(value * 100)} %` : '-');
      const http = rows.filter((row) => row.kind === 'http');
      const table: Table = {
        title: `Per function (serverless package: ${fmt(packaged.seconds, 1)} s for all)`,
        columns: [
          'function',
          'trigger',
          'bundle KB',
          'zip KB',
          'init median ms',
          'init p90 ms',
          'import floor',
          'floor init median ms',
          'init / floor',
          'init over floor: logger & metrics / zod/mini / the rest',
          'AWS SDK modules at init',
          'largest parts (KB)',
        ],
        rows: rows.map((row) => [
          row.name,
          row.kind,
          fmt(row.bundleBytes / 1024),
          fmt(row.zipBytes / 1024),
          fmt(row.medianMs, 1),
          fmt(row.p90Ms, 1),
          row.floor,
          fmt(row.floorMs, 1),
          ratio(row.floorRatio),
          Object.values(row.overFloor).map(percent).join(' / '),
          fmt(row.sdkModulesAtInit),
          parts.get(row.name) ?? '',
        ]),
        notes: [
          `Init: \`require()\` of the unzipped bundle in a fresh \`node\` (${process.version}; Lambda runs nodejs22.x), outside the repository, with KAFKA_BROKERS and the Upstash variables set; Node's own start-up is not included.`,
          'KB = 1,024 bytes. Largest parts: esbuild metafile of a build with the same custom.esbuild options.',
          `Import floor: a bare handler importing only the clients the function's bundle holds (${Object.keys(CLIENTS).join(', ')}; at least ${CLIENT_MIN_BYTES / 1024} KB of one), each as the function loads it (at init, or with \`import()\` on first use${ON_FIRST_USE}), and doing nothing else, bundled with the same options, its init measured in the same rounds: ${baseFloors.map((floor) => `${floor.name} ${fmt(floor.bundleBytes / 1024)} KB`).join(', ')}.`,
          `Init over floor: of the init above the floor, the part that the floor + logger & metrics, and the floor + zod/mini, each add to the floor (\`-\`: the bundle holds less than ${CLIENT_MIN_BYTES / 1024} KB of it); the rest is what the floor + all it holds of them leaves (project code, its schemas, what they import beside these): the floor + both (next table) is as low as such a function could get without changing logger, metrics or zod/mini.`,
        ],
      };
      const variantsTable: Table = {
        title: 'Import floors plus what every function imports beside its clients (same rounds)',
        columns: [
          'import floor',
          ...FLOOR_VARIANTS.map((extras) =>
            extras.length === 0 ? 'floor' : `+ ${extras.join(' + ')}`,
          ),
        ],
        rows: baseFloors.map((floor) => [
          floor.name,
          ...FLOOR_VARIANTS.map((extras) => {
            const variant = floors.get(floorName(floor.clients, extras)) as ImportFloor;
            const ms = floorMs(variant.name);
            return `${fmt(ms, 1)} ms, ${fmt(variant.bundleBytes / 1024)} KB${extras.length === 0 ? '' : `, ${ratio(ms / floorMs(floor.name))}`}`;
          }),
        ]),
        notes: [
          `Each cell: init median, bundle size, and (beside the floor) its init / the floor's. Logger & metrics: \`new Logger()\` at import (lib/log.ts) and a subclass of Metrics (lib/metrics.ts). Zod/mini: lib/zod.ts (\`zod/mini\` with its English locale) and one small z.object built at import.`,
        ],
      };
      const checksTable: Table = {
        title: 'MSK checks from bundles (the SDK from NODE_PATH, as Lambda provides it)',
        columns: ['check', 'result'],
        rows: [
          [
            'health bundle, MSK_CLUSTER_ARN set: GetBootstrapBrokers requests to the MSK API stand-in',
            fmt(checks.discovery.mskRequests),
          ],
          [
            '... /health status, kafka',
            `${checks.discovery.status}, ${checks.discovery.kafka.status ?? '?'}`,
          ],
          [
            '... @aws-sdk/client-kafka modules loaded after init / after the call',
            `${checks.discovery.afterInit} / ${checks.discovery.afterCall}`,
          ],
          [
            'lib/kafka/auth.ts bundled with custom.esbuild: MSK IAM token',
            checks.iam.signed ? `signed, Action=${checks.iam.action}` : 'NOT signed',
          ],
        ],
      };
      const worst = <T>(list: T[], value: (item: T) => number) =>
        list.reduce((max, item) => (value(item) > value(max) ? item : max));
      const biggest = worst(http, (row) => row.bundleBytes);
      const slowest = worst(http, (row) => row.medianMs);
      const overFloor = rows.filter((row) => row.floorRatio > GOAL_FLOOR_RATIO);
      const worstFloor = worst(rows, (row) => row.floorRatio);
      const goals: Goal[] = [
        {
          goal: `every function: init median <= ${GOAL_FLOOR_RATIO}x its import floor`,
          measured: `${rows.length - overFloor.length} of ${rows.length}; highest ${worstFloor.name} ${ratio(worstFloor.floorRatio)} (${fmt(worstFloor.medianMs, 1)} vs ${fmt(worstFloor.floorMs, 1)} ms)`,
          met: overFloor.length === 0,
          why: `above it: ${overFloor.map((row) => `${row.name} ${ratio(row.floorRatio)}`).join(', ')}. The floors plus logger, metrics and zod/mini alone (no project code): ${baseFloors.map((floor) => `${floor.name} ${ratio(floorMs(floorName(floor.clients, ['logger & metrics', 'zod/mini'])) / floorMs(floor.name))}`).join(', ')}. ${worstFloor.name}'s bundle beside the clients: ${parts.get(worstFloor.name)}; see docs/benchmarks.md (cold start).`,
        },
        {
          goal: `HTTP function bundles <= ${GOAL_BUNDLE_BYTES / 1024} KB`,
          measured: `${http.filter((row) => row.bundleBytes <= GOAL_BUNDLE_BYTES).length} of ${http.length}; largest ${biggest.name} ${fmt(biggest.bundleBytes / 1024)} KB`,
          met: http.every((row) => row.bundleBytes <= GOAL_BUNDLE_BYTES),
          why: `${biggest.name}: ${parts.get(biggest.name)}. See docs/benchmarks.md (cold start) for what each part needs.`,
        },
        {
          goal: `HTTP function init <= ${GOAL_INIT_MS} ms (median)`,
          measured: `${http.filter((row) => row.medianMs <= GOAL_INIT_MS).length} of ${http.length}; slowest ${slowest.name} ${fmt(slowest.medianMs, 1)} ms`,
          met: http.every((row) => row.medianMs <= GOAL_INIT_MS),
          why: `init time follows bundle size (parse and compile) and what runs at import: ${slowest.name} is ${fmt(slowest.bundleBytes / 1024)} KB.`,
        },
        {
          goal: '@aws-sdk/client-kafka loaded only when MSK_CLUSTER_ARN is set',
          measured: `${rows.filter((row) => row.sdkModulesAtInit > 0).length} functions load AWS SDK modules at init; with MSK_CLUSTER_ARN: ${checks.discovery.afterInit} at init, ${checks.discovery.afterCall} after the first call`,
          met:
            rows.every((row) => row.sdkModulesAtInit === 0) &&
            checks.discovery.afterInit === 0 &&
            checks.discovery.afterCall > 0 &&
            checks.discovery.mskRequests > 0 &&
            checks.discovery.kafka.status === 'connected',
          why: 'see the MSK checks table.',
        },
        {
          goal: 'MSK IAM still signs tokens from a bundle',
          measured: checks.iam.signed ? 'signed' : 'not signed',
          met: checks.iam.signed,
          why: 'aws-msk-iam-sasl-signer-js or its AWS SDK dependencies could not be loaded from the bundle.',
        },
      ];
      return {
        tables: [table, variantsTable, checksTable],
        goals,
        data: {
          rows,
          checks,
          packageSeconds: packaged.seconds,
          parts: Object.fromEntries(parts),
          importFloors: [...floors.values()].map((floor) => ({
            ...floor,
            ...(times.get(`floor: ${floor.name}`) as InitTimes),
          })),
        },
      };
    } finally {
      await packaged.remove();
    }
  },
};
