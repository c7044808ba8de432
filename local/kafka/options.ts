import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The folder of this module: pom.xml and log4j2.properties live beside it. */
export const KAFKA_TOOLING_DIR = import.meta.dirname;

/**
 * The Kafka version, read from pom.xml so there is one place to change it.
 * @throws when pom.xml has no `<kafka.version>` (someone broke the pom).
 */
const readKafkaVersion = (): string => {
  const pom = readFileSync(join(KAFKA_TOOLING_DIR, 'pom.xml'), 'utf8');
  const version = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(pom)?.[1];
  if (!version) throw new Error(`no <kafka.version> property in ${KAFKA_TOOLING_DIR}/pom.xml`);
  return version;
};

export const KAFKA_VERSION = readKafkaVersion();

/**
 * The SASL users of the local broker's SASL_PLAINTEXT listener. Local development credentials
 * only: they are baked into the generated server.properties and the formatted storage.
 * The PLAIN user lives in the listener's JAAS config (so a change applies on the next start);
 * the SCRAM user is written into the metadata log when the storage is formatted (a change
 * needs a fresh stateDir).
 */
export const KAFKA_SASL_USERS = {
  plain: { username: 'narad', password: 'narad-local-secret' },
  scram: { username: 'narad-scram', password: 'narad-scram-secret' },
} as const;

export const KAFKA_SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

export interface KafkaBrokerOptions {
  /** The address every listener binds to and advertises. */
  host: string;
  /** PLAINTEXT listener (clients and inter-broker traffic). */
  port: number;
  /** SASL_PLAINTEXT listener with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. */
  saslPort: number;
  /** KRaft controller listener (not for clients). */
  controllerPort: number;
  /** Root of the jar cache and the run folders (`NARAD_CACHE_DIR`, else ~/.cache/narad). */
  cacheDir: string;
  /** Data, logs, pid file and the generated server.properties of this broker. */
  stateDir: string;
  /** JVM heap flags; small, because the broker shares a 2-core dev machine with the tests. */
  heapOpts: string[];
  /** How long a start may take before it counts as failed. */
  startTimeoutMs: number;
  /** How long a stop waits after SIGTERM before it sends SIGKILL. */
  stopTimeoutMs: number;
}

const defaultCacheDir = (): string =>
  process.env.NARAD_CACHE_DIR || join(homedir(), '.cache', 'narad');

/**
 * The broker's options: the development defaults with `overrides` on top. The stateDir follows
 * the port unless given, so brokers on different ports never share data.
 * Never throws.
 */
export const kafkaBrokerOptions = (
  overrides: Partial<KafkaBrokerOptions> = {},
): KafkaBrokerOptions => {
  const cacheDir = overrides.cacheDir ?? defaultCacheDir();
  const port = overrides.port ?? 9092;
  return {
    host: '127.0.0.1',
    port,
    saslPort: 9094,
    controllerPort: 9093,
    heapOpts: ['-Xms256m', '-Xmx512m'],
    startTimeoutMs: 60_000,
    stopTimeoutMs: 30_000,
    ...overrides,
    cacheDir,
    stateDir: overrides.stateDir ?? join(cacheDir, 'run', `kafka-${port}`),
  };
};

/** The files a broker keeps in its stateDir. */
export const brokerFiles = (opts: KafkaBrokerOptions) => ({
  dataDir: join(opts.stateDir, 'data'),
  formattedMarker: join(opts.stateDir, 'data', 'meta.properties'),
  serverProperties: join(opts.stateDir, 'server.properties'),
  logFile: join(opts.stateDir, 'kafka.log'),
  previousLogFile: join(opts.stateDir, 'kafka.log.1'),
  pidFile: join(opts.stateDir, 'kafka.pid'),
  startLock: join(opts.stateDir, 'start.lock'),
});

/** `host:port` of the PLAINTEXT listener, as kafkajs wants it. */
export const plaintextAddress = (opts: KafkaBrokerOptions): string => `${opts.host}:${opts.port}`;
