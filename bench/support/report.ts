import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';

/** What every benchmark hands back: tables to print, goals checked, raw figures for the JSON. */

export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
  /** One line each, printed under the table: what limits the figures. */
  notes?: string[];
}

export interface Goal {
  goal: string;
  measured: string;
  met: boolean;
  /** For a missed goal: why, as precisely as the benchmark can tell. */
  why?: string;
}

export interface BenchOutcome {
  tables: Table[];
  goals: Goal[];
  data: unknown;
}

export interface Machine {
  cores: number;
  cpu: string;
  memoryMiB: number;
  freeMemoryMiB: number;
  /** 1-minute load average at the start: far above 0 means others were using the cores. */
  loadAverage: number;
  node: string;
  platform: string;
}

export interface BenchResult extends BenchOutcome {
  name: string;
  title: string;
  startedAt: string;
  seconds: number;
  machine: Machine;
  loadAverageAtEnd: number;
  commit: string;
  options: Record<string, unknown>;
}

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

export const machine = (): Machine => ({
  cores: cpus().length,
  cpu: cpus()[0]?.model.trim() ?? 'unknown',
  memoryMiB: Math.round(totalmem() / 2 ** 20),
  freeMemoryMiB: Math.round(freemem() / 2 ** 20),
  loadAverage: Number((loadavg()[0] ?? 0).toFixed(2)),
  node: process.version,
  platform: `${process.platform}/${process.arch}`,
});

const commitOf = (): string => {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT })
      .toString()
      .trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain'], { cwd: REPO_ROOT }).toString().trim() !== '';
    return dirty ? `${head}+uncommitted` : head;
  } catch {
    return 'unknown';
  }
};

const cell = (text: string) => text.replaceAll('|', '\\|');

const NUMERIC = /^(-|[-+]?[\d,.]+(\s?(x|%|ms|s|KB|KiB|MB))?)$/;

/** Columns holding only figures are right-aligned, text columns left-aligned. */
const alignmentOf = (rows: readonly string[][], column: number) =>
  rows.length > 0 && rows.every((row) => NUMERIC.test((row[column] ?? '').trim())) ? '---:' : '---';

/** A markdown table (also readable as plain text in a terminal). */
export const markdownTable = ({ title, columns, rows, notes = [] }: Table, level = '###'): string =>
  [
    `${level} ${title}`,
    '',
    `| ${columns.map(cell).join(' | ')} |`,
    `| ${columns.map((_, i) => alignmentOf(rows, i)).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
    ...(notes.length > 0 ? ['', ...notes.map((note) => `- ${note}`)] : []),
  ].join('\n');

export const goalsTable = (goals: readonly Goal[]): Table => ({
  title: 'Goals',
  columns: ['goal', 'measured', 'met', 'why not'],
  rows: goals.map(({ goal, measured, met, why }) => [
    goal,
    measured,
    met ? 'yes' : 'NO',
    met ? '' : (why ?? ''),
  ]),
});

const describeMachine = (m: Machine, loadAtEnd: number) =>
  `${m.cores} cores (${m.cpu}), ${m.memoryMiB} MiB memory, Node ${m.node}, load average ${m.loadAverage} at start / ${loadAtEnd} at end`;

/** One benchmark's section of docs/benchmarks.md (and of its console output). */
export const markdownOf = (result: BenchResult, level = '##'): string =>
  [
    `${level} ${result.title} (\`npm run bench -- ${result.name}\`)`,
    '',
    `Run ${result.startedAt} at ${result.commit}, ${result.seconds.toFixed(0)} s, options ${JSON.stringify(result.options)}; ${describeMachine(result.machine, result.loadAverageAtEnd)}.`,
    '',
    ...result.tables.map((table) => `${markdownTable(table, `${level}#`)}\n`),
    ...(result.goals.length > 0 ? [markdownTable(goalsTable(result.goals), `${level}#`), ''] : []),
  ].join('\n');

export const resultPath = (name: string) => join(RESULTS_DIR, `${name}.json`);

/** Runs a benchmark, prints its tables and writes bench/results/<name>.json. */
export const runAndRecord = async (
  name: string,
  title: string,
  options: Record<string, unknown>,
  run: () => Promise<BenchOutcome>,
): Promise<BenchResult> => {
  const startedAt = new Date();
  const atStart = machine();
  const started = performance.now();
  const outcome = await run();
  const result: BenchResult = {
    name,
    title,
    startedAt: startedAt.toISOString(),
    seconds: (performance.now() - started) / 1000,
    machine: atStart,
    loadAverageAtEnd: Number((loadavg()[0] ?? 0).toFixed(2)),
    commit: commitOf(),
    options,
    ...outcome,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(resultPath(name), `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\n${markdownOf(result)}`);
  console.log(`(written to ${resultPath(name)})`);
  if (atStart.loadAverage > atStart.cores / 2) {
    console.log(
      `NOTE: the load average was ${atStart.loadAverage} on ${atStart.cores} cores when this run started: other processes shared the CPU, so take the final figures on a quiet machine.`,
    );
  }
  return result;
};

export const readResult = (name: string): BenchResult | undefined => {
  try {
    return JSON.parse(readFileSync(resultPath(name), 'utf8')) as BenchResult;
  } catch {
    return undefined;
  }
};
