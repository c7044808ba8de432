import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { waitUntil } from './processes.ts';

const REPO_ROOT = join(import.meta.dirname, '..');
const SERVERLESS_BIN = join(REPO_ROOT, 'node_modules/serverless/bin/serverless.js');

export interface RunningOffline {
  url: string;
  lambdaUrl: string;
  process: ChildProcess;
  stop: () => Promise<void>;
}

/** True when something answers HTTP at `url` (serverless-offline answers 404 on `/`). */
export const httpAnswers = async (url: string): Promise<boolean> => {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
};

/**
 * Runs `serverless offline` as a child of this process, with `env` on top of ours, and
 * resolves once its HTTP server answers. Output goes to `onOutput` (or is dropped).
 */
export const startOffline = async ({
  httpPort,
  lambdaPort,
  env = {},
  args = [],
  preload = [],
  onOutput,
}: {
  httpPort: number;
  lambdaPort: number;
  env?: NodeJS.ProcessEnv;
  args?: string[];
  /**
   * Modules (TypeScript, through tsx) that run in offline's process before it loads anything
   * else: what the functions of an `--useInProcess` offline find installed (local/embedded/).
   */
  preload?: string[];
  onOutput?: (chunk: string) => void;
}): Promise<RunningOffline> => {
  const child = spawn(
    process.execPath,
    [
      ...(preload.length > 0 ? ['--import', 'tsx'] : []),
      ...preload.flatMap((module) => ['--import', pathToFileURL(module).href]),
      SERVERLESS_BIN,
      'offline',
      '--httpPort',
      String(httpPort),
      '--lambdaPort',
      String(lambdaPort),
      ...args,
    ],
    { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const recent: string[] = [];
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    recent.push(text);
    if (recent.length > 40) recent.shift();
    onOutput?.(text);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `serverless offline exited (${signal ?? `code ${code}`}):\n${recent.join('')}`;
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${httpPort}`;
  const stop = async () => {
    if (exited === undefined) {
      child.kill('SIGINT');
      await exit;
    }
  };
  try {
    await waitUntil(() => httpAnswers(url), {
      what: `serverless offline on ${url}`,
      timeoutMs: 60_000,
      abortIf: () => exited,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, lambdaUrl: `http://127.0.0.1:${lambdaPort}`, process: child, stop };
};
