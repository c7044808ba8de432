import { parseArgs } from 'node:util';
import {
  installKafkaBroker,
  isKafkaBrokerInstalled,
  KAFKA_VERSION,
  type KafkaBrokerOptions,
  kafkaBrokerOptions,
  kafkaBrokerStatus,
  restartKafkaBroker,
  type StartedKafkaBroker,
  startKafkaBroker,
  stopKafkaBroker,
} from './broker.ts';
import { kafkaInstallPaths } from './install.ts';
import { brokerFiles, plaintextAddress } from './options.ts';

const USAGE = `usage: npm run kafka -- <install|start|stop|status|restart> [--port 9092] [--sasl-port 9094] [--controller-port 9093]

  install   resolve the Kafka ${KAFKA_VERSION} jars from Maven Central into the cache (once)
  start     start the local broker, or say that one already answers on the port
  stop      stop the broker started from this machine's state folder
  status    say whether a broker answers (exit code 3 when none does)
  restart   stop and start again, keeping topics and committed offsets

The cache and state live under $NARAD_CACHE_DIR (default ~/.cache/narad).`;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

const listeners = (opts: KafkaBrokerOptions): string =>
  `${plaintextAddress(opts)} (SASL ${opts.saslPort})`;

const describeStart = (verb: string, opts: KafkaBrokerOptions, started: StartedKafkaBroker) =>
  `kafka: ${verb} ${started.version} on ${listeners(opts)} in ${seconds(started.startedInMs)}, ` +
  `pid ${started.pid}${started.formatted ? ', fresh storage' : ''}, logs at ${started.logFile}`;

const install = async (opts: KafkaBrokerOptions): Promise<string> => {
  const cached = await isKafkaBrokerInstalled(opts);
  const startedAt = performance.now();
  const libsDir = await installKafkaBroker(opts);
  return cached
    ? `kafka: ${KAFKA_VERSION} jars already in ${libsDir}`
    : `kafka: resolved ${KAFKA_VERSION} jars with Maven in ${seconds(performance.now() - startedAt)} into ${libsDir}`;
};

const start = async (opts: KafkaBrokerOptions): Promise<string> => {
  const status = await kafkaBrokerStatus(opts);
  if (status.ready) {
    const owner = status.pid ? `pid ${status.pid}` : 'not started from this state folder';
    return `kafka: already running on ${listeners(opts)} (${owner})`;
  }
  return describeStart('started', opts, await startKafkaBroker(opts));
};

const stop = async (opts: KafkaBrokerOptions): Promise<string> => {
  const startedAt = performance.now();
  const { stoppedPid } = await stopKafkaBroker(opts);
  return stoppedPid
    ? `kafka: stopped pid ${stoppedPid} in ${seconds(performance.now() - startedAt)}`
    : `kafka: not running from ${opts.stateDir}, nothing to stop`;
};

const status = async (opts: KafkaBrokerOptions): Promise<string> => {
  const { ready, pid, rssBytes } = await kafkaBrokerStatus(opts);
  const memory = rssBytes ? `, RSS ${Math.round(rssBytes / 2 ** 20)} MiB` : '';
  if (ready && pid) {
    return `kafka: running ${KAFKA_VERSION} on ${listeners(opts)}, pid ${pid}${memory}, logs at ${brokerFiles(opts).logFile}`;
  }
  if (ready)
    return `kafka: a broker not started from ${opts.stateDir} answers on ${plaintextAddress(opts)}`;
  process.exitCode = 3;
  const jars = (await isKafkaBrokerInstalled(opts))
    ? `jars in ${kafkaInstallPaths(opts.cacheDir).libsDir}`
    : 'jars not installed yet';
  return pid
    ? `kafka: pid ${pid} runs but does not answer on ${plaintextAddress(opts)} (starting, or stuck: see ${brokerFiles(opts).logFile})`
    : `kafka: not running on ${plaintextAddress(opts)} (${jars})`;
};

const restart = async (opts: KafkaBrokerOptions): Promise<string> =>
  describeStart('restarted', opts, await restartKafkaBroker(opts));

const ACTIONS: Record<string, (opts: KafkaBrokerOptions) => Promise<string>> = {
  install,
  start,
  stop,
  status,
  restart,
};

/** Reads the action and the port flags; undefined when the command line makes no sense. */
const parseCommandLine = (argv: string[]) => {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      'sasl-port': { type: 'string' },
      'controller-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const action = positionals.length === 1 && positionals[0] ? ACTIONS[positionals[0]] : undefined;
  if (!action || values.help) return undefined;
  const port = (flag: string): number => {
    const value = Number(flag);
    if (!Number.isInteger(value) || value < 1 || value > 65_535) {
      throw new Error(`not a TCP port: ${flag}`);
    }
    return value;
  };
  const overrides: Partial<KafkaBrokerOptions> = {
    ...(values.port && { port: port(values.port) }),
    ...(values['sasl-port'] && { saslPort: port(values['sasl-port']) }),
    ...(values['controller-port'] && { controllerPort: port(values['controller-port']) }),
  };
  return { action, opts: kafkaBrokerOptions(overrides) };
};

const main = async (): Promise<void> => {
  let command: ReturnType<typeof parseCommandLine>;
  try {
    command = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    console.error(`kafka: ${(error as Error).message}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (!command) {
    console.error(USAGE);
    process.exitCode = 2;
    return;
  }
  try {
    console.log(await command.action(command.opts));
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error';
    console.error(`kafka: failed (${name}): ${error instanceof Error ? error.message : error}`);
    process.exitCode = 1;
  }
};

await main();
