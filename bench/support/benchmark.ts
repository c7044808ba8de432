import type { BenchOutcome } from './report.ts';

/** Command-line flags after the benchmark's name (`--records 20000` -> {records: '20000'}). */
export type Flags = Record<string, string | boolean | undefined>;

export interface Benchmark {
  name: string;
  title: string;
  /** One line for `npm run bench -- help`. */
  summary: string;
  /** The options this run uses (defaults merged with flags), recorded in the results. */
  options: (flags: Flags) => Record<string, unknown>;
  run: (options: Record<string, unknown>) => Promise<BenchOutcome>;
}

/** A positive integer flag, or `fallback`. @throws naming the flag when it is not one. */
export const intFlag = (flags: Flags, name: string, fallback: number): number => {
  const value = flags[name];
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) {
    throw new Error(`--${name} must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return parsed;
};
