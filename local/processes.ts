import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { isPidAlive, readPidFile } from './pids.ts';

/** Where the local stack keeps caches and runtime state: outside git, shared by every clone. */
export const cacheDir = (): string =>
  process.env.NARAD_CACHE_DIR || join(homedir(), '.cache', 'narad');

/** The runtime folder (pid file, log) of one local server. */
export const runDir = (name: string): string => join(cacheDir(), 'run', name);

/**
 * Polls `probe` until it answers true. Readiness is always asked of the server itself;
 * the interval only paces the questions.
 * @throws when `deadlineMs` passes first, or when `abortIf` says the server died.
 */
export const waitUntil = async (
  probe: () => Promise<boolean>,
  {
    what,
    timeoutMs,
    abortIf,
  }: { what: string; timeoutMs: number; abortIf?: () => string | undefined },
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (let interval = 50; ; interval = Math.min(interval * 2, 500)) {
    if (await probe()) return;
    const reason = abortIf?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await delay(interval);
  }
};

export interface DetachedProcess {
  pid: number;
  logFile: string;
  /** Why the process is gone, if it exited already. */
  exitReason: () => string | undefined;
}

/**
 * Starts a server that outlives this process (so `npm run stack -- start` can return), with
 * its output in `logFile` and its pid in `pidFile`, so it can later be stopped by its own pid.
 */
export const spawnDetached = async (
  command: string,
  args: string[],
  {
    pidFile,
    logFile,
    env,
    cwd,
  }: { pidFile: string; logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<DetachedProcess> => {
  await mkdir(dirname(pidFile), { recursive: true });
  await mkdir(dirname(logFile), { recursive: true });
  const log = openSync(logFile, 'a');
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: env ?? process.env,
    cwd,
  });
  closeSync(log);
  let exitReason: string | undefined;
  child.on('exit', (code, signal) => {
    exitReason = `exited early (${signal ?? `code ${code}`}); see ${logFile}`;
  });
  child.on('error', (error) => {
    exitReason = `could not start ${command}: ${error.message}`;
  });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command}; is it installed?`);
  await writeFile(pidFile, `${child.pid}\n`);
  return { pid: child.pid, logFile, exitReason: () => exitReason };
};

/**
 * Stops the process named in `pidFile`: SIGTERM, then SIGKILL after `graceMs`.
 * Resolves when it is gone; a missing pid file or a dead pid is not an error.
 */
export const stopByPidFile = async (pidFile: string, graceMs = 30_000): Promise<boolean> => {
  const pid = await readPidFile(pidFile);
  if (pid === undefined || !isPidAlive(pid)) {
    await rm(pidFile, { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const gone = async () => !isPidAlive(pid);
  try {
    await waitUntil(gone, { what: `pid ${pid}`, timeoutMs: graceMs });
  } catch {
    process.kill(pid, 'SIGKILL');
    await waitUntil(gone, { what: `pid ${pid} after SIGKILL`, timeoutMs: 5_000 });
  }
  await rm(pidFile, { force: true });
  return true;
};
