import type { Admin, Kafka } from 'kafkajs';

export type KafkaHealth =
  | {
      status: 'connected';
      latencyMs: number;
      /** The cluster's brokers as it describes them, `host:port`. */
      addresses: string[];
      controller: number | null;
    }
  | { status: 'disconnected'; latencyMs: number; error: string };

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });

const admins = new WeakMap<Kafka, Promise<Admin>>();

/** The container's admin client for `kafka`, connected once and reused by later checks. */
const adminOf = (kafka: Kafka): Promise<Admin> => {
  let admin = admins.get(kafka);
  if (admin === undefined) {
    const created = kafka.admin();
    admin = created.connect().then(() => created);
    admins.set(kafka, admin);
  }
  return admin;
};

/** Drops the admin after a failure, so the next check starts from a fresh connection. */
const forgetAdmin = async (kafka: Kafka) => {
  const admin = admins.get(kafka);
  admins.delete(kafka);
  await admin?.then((one) => one.disconnect()).catch(() => undefined);
};

/**
 * One metadata request (DescribeCluster) through the container's admin client, kept between
 * checks so a health check costs one round trip, not a new connection. After any failure the
 * admin is dropped: a broker restart never leaves a stale connection for the next check.
 */
export const checkKafka = async (kafka: Kafka, timeoutMs = 5_000): Promise<KafkaHealth> => {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const cluster = await withTimeout(
      adminOf(kafka).then((admin) => admin.describeCluster()),
      timeoutMs,
      'Kafka metadata request',
    );
    return {
      status: 'connected',
      latencyMs: elapsed(),
      addresses: cluster.brokers.map(({ host, port }) => `${host}:${port}`),
      controller: cluster.controller,
    };
  } catch (error) {
    await forgetAdmin(kafka);
    return {
      status: 'disconnected',
      latencyMs: elapsed(),
      error: error instanceof Error ? error.message : String(error),
    };
  }
};
