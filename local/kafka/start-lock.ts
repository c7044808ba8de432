import { mkdir, open, rm, stat } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { isPidAlive, readPidFile } from '../pids.ts';
import { KafkaStartError } from './errors.ts';
import { brokerFiles, type KafkaBrokerOptions } from './options.ts';

/**
 * Whether the start lock belongs to a live process. A lock without a pid yet is held, unless it
 * is older than a lock takes to write (then its owner died between creating and writing it).
 */
const isLockHeld = async (startLock: string, holder: number | undefined): Promise<boolean> => {
  if (holder !== undefined) return isPidAlive(holder);
  const createdMs = await stat(startLock).then(
    (info) => info.mtimeMs,
    () => 0,
  );
  return Date.now() - createdMs < 5_000;
};

/**
 * Takes the stateDir's start lock (a file created with O_EXCL holding the owner's pid), so two
 * processes never start the same broker at once. Waits while a live process holds it; a lock
 * left by a dead process is taken over. Returns the function that releases it.
 * @throws KafkaStartError when the lock stays held longer than a start may take.
 */
export const takeStartLock = async (opts: KafkaBrokerOptions): Promise<() => Promise<void>> => {
  const { startLock } = brokerFiles(opts);
  await mkdir(opts.stateDir, { recursive: true });
  const deadline = Date.now() + opts.startTimeoutMs + 10_000;
  for (;;) {
    try {
      const lock = await open(startLock, 'wx');
      await lock.writeFile(`${process.pid}\n`);
      await lock.close();
      return () => rm(startLock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readPidFile(startLock);
    if (!(await isLockHeld(startLock, holder))) {
      await rm(startLock, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new KafkaStartError(
        `process ${holder} has been starting the broker of ${opts.stateDir} for too long; ` +
          `if it is stuck, stop it and delete ${startLock}`,
      );
    }
    await delay(200);
  }
};
