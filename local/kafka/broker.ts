import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  isPortOpen,
  isProcessRunningWith,
  readPidFile,
  residentBytes,
  waitUntilGone,
} from '../pids.ts';
import {
  KafkaStartError,
  KafkaStopError,
  KafkaToolMissingError,
  NO_LOCAL_BROKER_HINT,
} from './errors.ts';
import { installKafkaBroker } from './install.ts';
import {
  brokerFiles,
  KAFKA_SASL_USERS,
  KAFKA_TOOLING_DIR,
  KAFKA_VERSION,
  type KafkaBrokerOptions,
  kafkaBrokerOptions,
  plaintextAddress,
} from './options.ts';
import { isKafkaBrokerReady, waitForGroupCoordinator } from './probe.ts';
import { javaCommand, lastLines, runTool } from './run-tool.ts';
import { renderServerProperties } from './server-properties.ts';
import { takeStartLock } from './start-lock.ts';

/**
 * A real Apache Kafka broker (one KRaft node, jars from Maven Central) for tests, CI and
 * development. Every function takes the same optional overrides as `kafkaBrokerOptions`.
 */

export {
  KafkaInstallError,
  KafkaStartError,
  KafkaStopError,
  KafkaToolMissingError,
  LocalKafkaError,
} from './errors.ts';
export { installKafkaBroker, isKafkaBrokerInstalled } from './install.ts';
export {
  KAFKA_SASL_MECHANISMS,
  KAFKA_SASL_USERS,
  KAFKA_VERSION,
  type KafkaBrokerOptions,
  kafkaBrokerOptions,
} from './options.ts';
export { isKafkaBrokerReady } from './probe.ts';

export interface StartedKafkaBroker {
  pid: number;
  version: string;
  /** From the call until the broker answered metadata requests and had a group coordinator. */
  startedInMs: number;
  /** Whether this start formatted fresh storage (the first start of a stateDir). */
  formatted: boolean;
  logFile: string;
}

const LOG4J_CONFIG = join(KAFKA_TOOLING_DIR, 'log4j2.properties');

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** A Kafka cluster id: 16 random bytes, base64url (what `kafka-storage random-uuid` prints). */
const randomClusterId = (): string => {
  const id = randomBytes(16).toString('base64url');
  // Kafka never hands out ids starting with '-' because command lines read them as flags.
  return id.startsWith('-') ? randomClusterId() : id;
};

/** The broker's pid when the pid file names a live broker of this stateDir. */
const runningBrokerPid = async (opts: KafkaBrokerOptions): Promise<number | undefined> => {
  const { pidFile, serverProperties } = brokerFiles(opts);
  const pid = await readPidFile(pidFile);
  return pid && (await isProcessRunningWith(pid, serverProperties)) ? pid : undefined;
};

const tailOfLog = async (logFile: string, count = 30): Promise<string> =>
  lastLines(await readFile(logFile, 'utf8').catch(() => '(no log written)'), count);

/** What to do about a broker that died while starting, judged from its last log lines. */
const adviceFor = (opts: KafkaBrokerOptions, logTail: string): string => {
  if (/Address already in use/.test(logTail)) {
    return `Another process holds port ${opts.port}, ${opts.saslPort} or ${opts.controllerPort}: stop it, or start the broker on other ports.`;
  }
  if (/UnsupportedClassVersionError/.test(logTail)) {
    return `Kafka ${KAFKA_VERSION} needs Java 17 or newer: point JAVA_HOME at a JDK 17+.`;
  }
  return (
    `Fix the cause above and start again. If ${opts.stateDir} holds data of another Kafka ` +
    'version or is damaged, delete that folder (this drops all local topics) and start again.'
  );
};

const startFailure = async (
  opts: KafkaBrokerOptions,
  what: string,
  cause?: unknown,
): Promise<KafkaStartError> => {
  const { logFile } = brokerFiles(opts);
  const tail = await tailOfLog(logFile);
  return new KafkaStartError(
    `Kafka ${KAFKA_VERSION} broker ${what}. Last lines of ${logFile}:\n${tail}\n${adviceFor(opts, tail)}`,
    { cause },
  );
};

/** Keeps the previous run's log beside the new one, so a log never grows without bound. */
const rotateLog = async (opts: KafkaBrokerOptions): Promise<void> => {
  const { logFile, previousLogFile } = brokerFiles(opts);
  await rename(logFile, previousLogFile).catch(() => undefined);
};

const classpath = (libsDir: string): string => join(libsDir, '*');

/**
 * Formats KRaft storage for a single node and writes the SCRAM users into it; only ever called
 * on a stateDir without storage, so a restart keeps topics and committed offsets.
 */
const formatStorage = async (opts: KafkaBrokerOptions, libsDir: string): Promise<void> => {
  const { serverProperties, logFile } = brokerFiles(opts);
  const { username, password } = KAFKA_SASL_USERS.scram;
  const scramUser = `[name=${username},password=${password}]`;
  const run = await runTool(javaCommand(), [
    `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
    '-cp',
    classpath(libsDir),
    'kafka.tools.StorageTool',
    'format',
    '--cluster-id',
    randomClusterId(),
    '--config',
    serverProperties,
    '--add-scram',
    `SCRAM-SHA-256=${scramUser}`,
    '--add-scram',
    `SCRAM-SHA-512=${scramUser}`,
  ]);
  await writeFile(logFile, `[narad] kafka-storage format:\n${run.output}\n`, { flag: 'a' });
  if (run.exitCode !== 0) {
    throw await startFailure(opts, `storage could not be formatted (exit ${run.exitCode})`);
  }
};

const jvmArguments = (opts: KafkaBrokerOptions, libsDir: string): string[] => [
  ...opts.heapOpts,
  // Kafka's own defaults from kafka-run-class.sh / kafka-server-start.sh.
  '-XX:+UseG1GC',
  '-XX:MaxGCPauseMillis=20',
  '-XX:InitiatingHeapOccupancyPercent=35',
  '-XX:+ExplicitGCInvokesConcurrent',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.awt.headless=true',
  `-Dlog4j2.configurationFile=${LOG4J_CONFIG}`,
  `-Dkafka.logs.dir=${opts.stateDir}`,
  '-cp',
  classpath(libsDir),
  'kafka.Kafka',
  brokerFiles(opts).serverProperties,
];

interface SpawnedBroker {
  pid: number;
  /** Why the process is gone ("exited with code 1"), or undefined while it runs. */
  exitReason: () => string | undefined;
}

/** Starts the broker JVM in its own session, so it outlives this process (`npm run kafka`). */
const spawnBrokerProcess = async (
  opts: KafkaBrokerOptions,
  libsDir: string,
): Promise<SpawnedBroker> => {
  const { logFile, pidFile } = brokerFiles(opts);
  const log = await open(logFile, 'a');
  try {
    const child = spawn(javaCommand(), jvmArguments(opts, libsDir), {
      cwd: opts.stateDir,
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
    });
    let exitReason: string | undefined;
    child.once('exit', (code, signal) => {
      exitReason = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new KafkaToolMissingError(`${javaCommand()} not found: ${NO_LOCAL_BROKER_HINT}`, {
                cause: error,
              })
            : error,
        ),
      );
    });
    child.unref();
    const pid = child.pid as number;
    await writeFile(pidFile, `${pid}\n`);
    return { pid, exitReason: () => exitReason };
  } finally {
    await log.close();
  }
};

/**
 * Polls the broker until it answers a metadata request, then until it has a group coordinator.
 * @throws KafkaStartError (with the log's last lines) when the process dies or time runs out.
 */
const waitUntilBrokerAnswers = async (
  opts: KafkaBrokerOptions,
  exitReason: () => Promise<string | undefined>,
): Promise<void> => {
  const deadline = Date.now() + opts.startTimeoutMs;
  for (let interval = 100; ; interval = Math.min(interval * 2, 500)) {
    if (await isKafkaBrokerReady(opts)) break;
    const reason = await exitReason();
    if (reason) throw await startFailure(opts, `${reason} during start-up`);
    if (Date.now() > deadline) {
      throw await startFailure(
        opts,
        `did not answer on ${plaintextAddress(opts)} within ${opts.startTimeoutMs} ms`,
      );
    }
    await delay(interval);
  }
  try {
    await waitForGroupCoordinator(opts, deadline - Date.now());
  } catch (error) {
    throw await startFailure(opts, 'answered, but its group coordinator never came up', error);
  }
};

/** Refuses to start a second JVM onto ports that something already holds. */
const assertPortsFree = async (opts: KafkaBrokerOptions): Promise<void> => {
  for (const port of [opts.port, opts.saslPort, opts.controllerPort]) {
    if (await isPortOpen(opts.host, port)) {
      throw new KafkaStartError(
        `${opts.host}:${port} is already in use by another process (not the broker of ` +
          `${opts.stateDir}). Stop it, use ensureKafkaBroker to reuse a broker that answers ` +
          'there, or start this one on other ports.',
      );
    }
  }
};

const startUnlocked = async (opts: KafkaBrokerOptions): Promise<StartedKafkaBroker> => {
  const startedAt = performance.now();
  const runningPid = await runningBrokerPid(opts);
  if (runningPid) {
    throw new KafkaStartError(
      `the broker of ${opts.stateDir} is already running (pid ${runningPid}); ` +
        'reuse it with ensureKafkaBroker, or restart it with `npm run kafka -- restart`',
    );
  }
  await assertPortsFree(opts);
  const libsDir = await installKafkaBroker(opts);
  const files = brokerFiles(opts);
  await mkdir(opts.stateDir, { recursive: true });
  await rotateLog(opts);
  await writeFile(files.serverProperties, renderServerProperties(opts));
  const formatted = !(await exists(files.formattedMarker));
  if (formatted) await formatStorage(opts, libsDir);

  const broker = await spawnBrokerProcess(opts, libsDir);
  try {
    await waitUntilBrokerAnswers(opts, async () => broker.exitReason());
  } catch (error) {
    // Nobody else knows about a half-started JVM: do not leave it holding the ports.
    await stopKafkaBroker(opts).catch(() => undefined);
    throw error;
  }
  return {
    pid: broker.pid,
    version: KAFKA_VERSION,
    startedInMs: performance.now() - startedAt,
    formatted,
    logFile: files.logFile,
  };
};

/**
 * Starts the broker: resolves the jars (Maven, first time only), formats the storage (first
 * start of the stateDir only), spawns the JVM detached with its output in `<stateDir>/kafka.log`
 * and its pid in `<stateDir>/kafka.pid`, and resolves once the broker answers metadata requests.
 * @throws KafkaToolMissingError without Java or Maven; KafkaInstallError when Maven fails;
 * KafkaStartError when the broker already runs, a port is taken, or it dies or times out while
 * starting (the message quotes the log).
 */
export const startKafkaBroker = async (
  overrides: Partial<KafkaBrokerOptions> = {},
): Promise<StartedKafkaBroker> => {
  const opts = kafkaBrokerOptions(overrides);
  const release = await takeStartLock(opts);
  try {
    return await startUnlocked(opts);
  } finally {
    await release();
  }
};

/**
 * Reuses a broker that answers on the port, waits for this stateDir's broker if it is still
 * starting, or starts one. Safe to call repeatedly and from several processes at once.
 * Returns whether this call started it (so the caller knows whether to stop it again).
 * @throws what startKafkaBroker throws.
 */
export const ensureKafkaBroker = async (
  overrides: Partial<KafkaBrokerOptions> = {},
): Promise<{ startedHere: boolean }> => {
  const opts = kafkaBrokerOptions(overrides);
  if (await isKafkaBrokerReady(opts)) return { startedHere: false };
  const release = await takeStartLock(opts);
  try {
    if (await isKafkaBrokerReady(opts)) return { startedHere: false };
    const startingPid = await runningBrokerPid(opts);
    if (startingPid) {
      const { serverProperties } = brokerFiles(opts);
      await waitUntilBrokerAnswers(opts, async () =>
        (await isProcessRunningWith(startingPid, serverProperties)) ? undefined : 'exited',
      );
      return { startedHere: false };
    }
    await startUnlocked(opts);
    return { startedHere: true };
  } finally {
    await release();
  }
};

/** Sends a signal, accepting that the process may have exited a moment ago. */
const signalIfRunning = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
};

/**
 * Stops this stateDir's broker by the pid in its pid file: SIGTERM, then SIGKILL after
 * `stopTimeoutMs`. Resolves once the process is gone and the port is closed; a no-op when it
 * is not running. Returns the pid it stopped, if any.
 * @throws KafkaStopError when the process survives SIGKILL or the port stays open.
 */
export const stopKafkaBroker = async (
  overrides: Partial<KafkaBrokerOptions> = {},
): Promise<{ stoppedPid: number | undefined }> => {
  const opts = kafkaBrokerOptions(overrides);
  const { pidFile, serverProperties } = brokerFiles(opts);
  const pid = await runningBrokerPid(opts);
  if (pid) {
    const isGone = async () => !(await isProcessRunningWith(pid, serverProperties));
    signalIfRunning(pid, 'SIGTERM');
    if (!(await waitUntilGone(isGone, opts.stopTimeoutMs))) {
      signalIfRunning(pid, 'SIGKILL');
      if (!(await waitUntilGone(isGone, 10_000))) {
        throw new KafkaStopError(`Kafka broker pid ${pid} survived SIGKILL; check \`ps ${pid}\``);
      }
    }
  }
  await rm(pidFile, { force: true });
  if (pid && !(await waitUntilGone(async () => !(await isPortOpen(opts.host, opts.port)), 5_000))) {
    throw new KafkaStopError(
      `broker pid ${pid} is gone but ${plaintextAddress(opts)} still accepts connections: ` +
        'another process listens there',
    );
  }
  return { stoppedPid: pid };
};

/**
 * Stops the broker (if running) and starts it again on the same storage, for outage tests.
 * @throws what stopKafkaBroker and startKafkaBroker throw.
 */
export const restartKafkaBroker = async (
  overrides: Partial<KafkaBrokerOptions> = {},
): Promise<StartedKafkaBroker> => {
  await stopKafkaBroker(overrides);
  return startKafkaBroker(overrides);
};

export interface KafkaBrokerStatus {
  /** A broker answers metadata requests on the PLAINTEXT port (this one or any other). */
  ready: boolean;
  /** The pid of this stateDir's broker, when it runs. */
  pid: number | undefined;
  /** Its resident memory (Linux only). */
  rssBytes: number | undefined;
}

/** What runs on the broker's port and from its stateDir. Never throws. */
export const kafkaBrokerStatus = async (
  overrides: Partial<KafkaBrokerOptions> = {},
): Promise<KafkaBrokerStatus> => {
  const opts = kafkaBrokerOptions(overrides);
  const [ready, pid] = await Promise.all([isKafkaBrokerReady(opts), runningBrokerPid(opts)]);
  return { ready, pid, rssBytes: pid ? await residentBytes(pid) : undefined };
};
