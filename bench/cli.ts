/**
 * `npm run bench` runs every benchmark; `npm run bench -- <name> [--flag value]` runs one;
 * `npm run bench -- report [--write]` prints the tables of the last results (bench/results/)
 * as markdown and, with --write, puts them into docs/benchmarks.md between its result markers.
 * Each benchmark of a full run is a process of its own, so module state (a function's
 * services, its environment) never leaks from one into the next.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyticsBenchmark } from './analytics.ts';
import { coldstartBenchmark } from './coldstart.ts';
import { consumerBenchmark } from './consumer.ts';
import { httpBenchmark } from './http.ts';
import { producerBenchmark } from './producer.ts';
import type { Benchmark } from './support/benchmark.ts';
import { markdownOf, REPO_ROOT, readResult, runAndRecord } from './support/report.ts';

// http last: its serverless offline workers under 50 connections load the machine for a while
// after it ends, which the cold-start medians that followed it used to pay.
const BENCHMARKS: Benchmark[] = [
  analyticsBenchmark,
  consumerBenchmark,
  coldstartBenchmark,
  producerBenchmark,
  httpBenchmark,
];

const BENCHMARKS_MD = join(REPO_ROOT, 'docs', 'benchmarks.md');
const START = '<!-- bench:results:start (npm run bench -- report --write) -->';
const END = '<!-- bench:results:end -->';

const usage = () =>
  [
    'usage: npm run bench [-- <name> [--records N] | report [--write] | help]',
    '',
    ...BENCHMARKS.map((bench) => `  ${bench.name.padEnd(10)} ${bench.summary}`),
    `  ${''.padEnd(10)} (http: --calls N, --skip-offline; consumer: --records N; producer: --messages N)`,
    `  ${'report'.padEnd(10)} the last results as markdown; --write updates docs/benchmarks.md`,
  ].join('\n');

const runOne = async (bench: Benchmark, flags: Record<string, string | boolean | undefined>) => {
  const options = bench.options(flags);
  await runAndRecord(bench.name, bench.title, options, () => bench.run(options));
};

/** Runs each benchmark in a child process, one after the other; true when all succeeded. */
const runAll = async (passThrough: string[]): Promise<boolean> => {
  const failed: string[] = [];
  for (const bench of BENCHMARKS) {
    console.log(`\n=== npm run bench -- ${bench.name}`);
    const code = await new Promise<number>((resolve) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'bench/cli.ts'), bench.name, ...passThrough],
        { cwd: REPO_ROOT, stdio: 'inherit' },
      );
      child.once('exit', (exitCode, signal) => resolve(signal ? 1 : (exitCode ?? 1)));
    });
    if (code !== 0) failed.push(bench.name);
  }
  console.log(
    failed.length === 0
      ? '\nAll benchmarks ran; `npm run bench -- report --write` puts their tables into docs/benchmarks.md.'
      : `\nFailed: ${failed.join(', ')} (see their output above).`,
  );
  return failed.length === 0;
};

const report = (write: boolean) => {
  const sections = BENCHMARKS.map((bench) => {
    const result = readResult(bench.name);
    return result
      ? markdownOf(result, '###')
      : `### ${bench.title}\n\nNo results yet: \`npm run bench -- ${bench.name}\`.\n`;
  });
  const markdown = sections.join('\n');
  if (!write) {
    console.log(markdown);
    return;
  }
  const current = readFileSync(BENCHMARKS_MD, 'utf8');
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  if (start < 0 || end < start) {
    throw new Error(`docs/benchmarks.md has no result markers (${START} ... ${END})`);
  }
  writeFileSync(
    BENCHMARKS_MD,
    `${current.slice(0, start + START.length)}\n\n${markdown}\n${current.slice(end)}`,
  );
  // The repository's formatter aligns markdown tables; `npm run check` expects it.
  execFileSync(join(REPO_ROOT, 'node_modules/.bin/biome'), ['format', '--write', BENCHMARKS_MD], {
    cwd: REPO_ROOT,
    stdio: 'ignore',
  });
  console.log(`docs/benchmarks.md updated from ${join('bench', 'results')}/*.json`);
};

/** `a --records 20000 --skip-offline --x=1` -> positionals [a], flags {records, skip-offline, x}. */
const parseCommandLine = (args: string[]) => {
  const positionals: string[] = [];
  const values: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const next = args[i + 1];
    if (inline !== undefined) values[name] = inline;
    else if (next !== undefined && !next.startsWith('--')) {
      values[name] = next;
      i += 1;
    } else values[name] = true;
  }
  return { positionals, values };
};

const main = async (): Promise<number> => {
  const { positionals, values } = parseCommandLine(process.argv.slice(2));
  const [command, ...rest] = positionals;
  if (rest.length > 0) throw new Error(`one benchmark at a time (got ${positionals.join(', ')})`);
  if (command === 'help') {
    console.log(usage());
    return 0;
  }
  if (command === 'report') {
    report(values.write === true);
    return 0;
  }
  if (command === undefined) return (await runAll(process.argv.slice(2))) ? 0 : 1;
  const bench = BENCHMARKS.find((candidate) => candidate.name === command);
  if (!bench) {
    console.error(`unknown benchmark "${command}"\n\n${usage()}`);
    return 2;
  }
  await runOne(bench, values);
  return 0;
};

// Clients (kafkajs, HTTP keep-alive pools) may hold handles open; a benchmark is done when
// its results are written.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
