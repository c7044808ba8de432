import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** The pid in a pid file, or undefined when there is no (valid) pid file. Never throws. */
export const readPidFile = async (pidFile: string): Promise<number | undefined> => {
  const text = await readFile(pidFile, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
};

/** Whether some process has this pid (it may be a zombie or another program). Never throws. */
export const isPidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Whether `pid` is a live process running with `marker` on its command line. On Linux the
 * command line is checked, so a stale pid file whose pid now belongs to another program is
 * not mistaken for the broker (and a zombie, whose command line is empty, counts as gone);
 * elsewhere only "some process has this pid" can be known. Never throws.
 */
export const isProcessRunningWith = async (pid: number, marker: string): Promise<boolean> => {
  if (process.platform !== 'linux') return isPidAlive(pid);
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes(marker);
};

/**
 * Polls until `isGone()` answers true or `timeoutMs` passes; returns whether it went.
 * Never throws.
 */
export const waitUntilGone = async (
  isGone: () => Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await isGone())) {
    if (Date.now() >= deadline) return false;
    await delay(100);
  }
  return true;
};

/** Whether something accepts TCP connections on host:port (answers within 1 s). Never throws. */
export const isPortOpen = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });

/** Resident memory of a process in bytes (Linux only; undefined elsewhere). Never throws. */
export const residentBytes = async (pid: number): Promise<number | undefined> => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kib ? Number(kib) * 1024 : undefined;
};
