import type { Kafka } from 'kafkajs';

export type KafkaHealth =
  | { status: 'connected'; latencyMs: number; brokers: number; controller: number | null }
  | { status: 'disconnected'; latencyMs: number; error: string };

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });

/**
 * One metadata request (DescribeCluster) through a short-lived admin client. The admin is
 * disconnected afterwards whatever happens, so a broker restart never leaves a stale
 * connection behind for the next check.
 */
export const checkKafka = async (kafka: Kafka, timeoutMs = 5_000): Promise<KafkaHealth> => {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const admin = kafka.admin();
  try {
    const cluster = await withTimeout(
      admin.connect().then(() => admin.describeCluster()),
      timeoutMs,
      'Kafka metadata request',
    );
    return {
      status: 'connected',
      latencyMs: elapsed(),
      brokers: cluster.brokers.length,
      controller: cluster.controller,
    };
  } catch (error) {
    return {
      status: 'disconnected',
      latencyMs: elapsed(),
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
};
