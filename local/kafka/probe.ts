import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import { type KafkaBrokerOptions, kafkaBrokerOptions, plaintextAddress } from './options.ts';

/**
 * A kafkajs client for probing: silent (a refused connection while the broker boots is the
 * expected answer, not an error to print) and with short timeouts.
 */
const probeClient = (opts: KafkaBrokerOptions, retry: KafkaConfig['retry']): Kafka =>
  new Kafka({
    clientId: 'narad-local-kafka-probe',
    brokers: [plaintextAddress(opts)],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry,
  });

const within = <T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what}: no answer in ${timeoutMs} ms`)),
      timeoutMs,
    );
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });

/**
 * Whether a broker answers a metadata request (admin.describeCluster) on the PLAINTEXT port:
 * one attempt, at most about 3 s. Never throws.
 */
export const isKafkaBrokerReady = async (
  overrides: Partial<KafkaBrokerOptions> = {},
): Promise<boolean> => {
  const admin = probeClient(kafkaBrokerOptions(overrides), { retries: 0 }).admin();
  try {
    const ask = async () => {
      await admin.connect();
      return admin.describeCluster();
    };
    const cluster = await within(ask(), 3_000, 'describeCluster');
    return cluster.brokers.length > 0;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};

/**
 * Asks for a group coordinator until there is one. On a fresh broker this creates
 * __consumer_offsets, and after a restart it waits for it to load, so the first consumer of a
 * test joins at once instead of logging "group coordinator not available" while it retries.
 * @throws the kafkajs error when no coordinator is available within `timeoutMs`.
 */
export const waitForGroupCoordinator = async (
  opts: KafkaBrokerOptions,
  timeoutMs: number,
): Promise<void> => {
  const admin = probeClient(opts, {
    retries: 30,
    initialRetryTime: 50,
    maxRetryTime: 500,
  }).admin();
  try {
    const ask = async () => {
      await admin.connect();
      await admin.describeGroups(['narad-local-kafka-readiness']);
    };
    await within(ask(), Math.max(timeoutMs, 1_000), 'group coordinator');
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};
