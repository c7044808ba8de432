import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BuildOptions } from 'esbuild';
import { parse } from 'yaml';
import { REPO_ROOT } from './report.ts';

const run = promisify(execFile);

export interface FunctionDefinition {
  name: string;
  handler: string;
  kind: 'http' | 'kafka' | 'schedule';
}

/** The functions of serverless.yml and what triggers each. */
export const serverlessFunctions = (): FunctionDefinition[] => {
  const config = parse(readFileSync(join(REPO_ROOT, 'serverless.yml'), 'utf8'));
  return Object.entries(
    config.functions as Record<string, { handler: string; events?: object[] }>,
  ).map(([name, definition]) => {
    const events = (definition.events ?? []).map((event) => Object.keys(event)[0]);
    const kind = events.includes('httpApi')
      ? 'http'
      : events.some((event) => event === 'msk' || event === 'kafka')
        ? 'kafka'
        : 'schedule';
    return { name, handler: definition.handler, kind };
  });
};

/**
 * esbuild options equal to serverless.yml `custom.esbuild` as serverless-esbuild applies them
 * (its own keys removed, `exclude` made external), for analysis builds beside `sls package`.
 */
export const esbuildOptionsFromServerless = (): BuildOptions => {
  const config = parse(readFileSync(join(REPO_ROOT, 'serverless.yml'), 'utf8'));
  const {
    exclude = [],
    external = [],
    outputFileExtension: _extension,
    outputWorkFolder: _workFolder,
    ...options
  } = config.custom.esbuild as Record<string, unknown> & {
    exclude?: string[];
    external?: string[];
  };
  return {
    ...(options as BuildOptions),
    external: [...external, ...(exclude.includes('*') ? [] : exclude)],
  };
};

export interface PackagedFunction extends FunctionDefinition {
  /** The unzipped bundle (.cjs). */
  bundle: string;
  bundleBytes: number;
  zipBytes: number;
}

export interface Packaged {
  dir: string;
  seconds: number;
  functions: PackagedFunction[];
  remove: () => Promise<void>;
}

/**
 * `serverless package` into a temporary folder (serverless-esbuild builds with `custom.esbuild`,
 * in ESBUILD_WORK_FOLDER so a running `serverless offline` is left alone), each function's zip
 * unzipped beside it, outside the repository, so nothing resolves from its node_modules.
 */
export const packageFunctions = async (): Promise<Packaged> => {
  const dir = await mkdtemp(join(tmpdir(), 'narad-bench-package-'));
  const started = performance.now();
  await run(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules/serverless/bin/serverless.js'),
      'package',
      '--package',
      join(dir, 'zips'),
    ],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ESBUILD_WORK_FOLDER: process.env.ESBUILD_WORK_FOLDER || '.esbuild-bench',
      },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const functions: PackagedFunction[] = [];
  for (const definition of serverlessFunctions()) {
    const zip = join(dir, 'zips', `${definition.name}.zip`);
    const unzipped = join(dir, definition.name);
    await run('unzip', ['-q', '-o', zip, '-d', unzipped]);
    const bundle = join(unzipped, `${definition.handler.replace(/\.[^.]+$/, '')}.cjs`);
    functions.push({
      ...definition,
      bundle,
      bundleBytes: (await stat(bundle)).size,
      zipBytes: (await stat(zip)).size,
    });
  }
  return {
    dir,
    seconds,
    functions,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
};
