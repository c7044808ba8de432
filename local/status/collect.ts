import type { Kafka } from 'kafkajs';
import type { DailyStats } from '../../lib/analytics/queries.ts';
import { getDailyStats } from '../../lib/analytics/queries.ts';
import { fallbackTopics } from '../../lib/fallback/drain.ts';
import { fallbackListKey } from '../../lib/fallback/messages.ts';
import type { RedisService } from '../../lib/redis/service.ts';
import { PARKED_TOPICS } from '../../lib/topics.ts';

/**
 * What `npm run status` shows, gathered from the local stack: the same numbers the deployed
 * stack's metrics and alarms watch (docs/operations.md). Each part is read on its own; a part
 * that cannot be read says why instead of failing the whole screen.
 */

/** A mapping as far as its lag goes: serverless.yml's msk event (local/msk-bridge/mappings.ts). */
export interface StatusMapping {
  id: string;
  topic: string;
  consumerGroupId: string;
}

export interface PartitionLag {
  mapping: string;
  group: string;
  topic: string;
  partition: number;
  /** The group's committed offset (the next record it will read); null when it has none. */
  committed: number | null;
  /** The partition's end offset (high watermark). */
  end: number;
  /** end - committed; without a commit, every record still in the partition (end - start). */
  lag: number;
}

export type Part<T> = { ok: true; value: T } | { ok: false; problem: string };

export interface StatusReport {
  at: string;
  health: {
    kafka: Part<{ brokers: number; latencyMs: number }>;
    redis: Part<{ latencyMs: number }>;
  };
  lag: Part<PartitionLag[]>;
  deadLetters: Part<Array<{ topic: string; records: number }>>;
  fallback: Part<Array<{ topic: string; length: number }>>;
  orders: Part<Record<string, number>>;
  analytics: Part<DailyStats>;
}

export interface StatusDeps {
  /** Undefined: Kafka is not reachable from here (not configured, or embedded in npm start). */
  kafka: Kafka | undefined;
  redis: RedisService | undefined;
  mappings: readonly StatusMapping[];
  /** Why a part is missing, when it is (embedded mode, not configured). */
  kafkaMissing?: string;
  redisMissing?: string;
  /** Today, as the daily counters name it (UTC). */
  today?: string;
}

const problemOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

const part = async <T>(read: () => Promise<T>): Promise<Part<T>> => {
  try {
    return { ok: true, value: await read() };
  } catch (error) {
    return { ok: false, problem: problemOf(error) };
  }
};

const missing = <T>(problem: string): Part<T> => ({ ok: false, problem });

/** Records a partition holds: high - low, summed over the topic's partitions. */
const recordsIn = (offsets: Array<{ high: string; low: string }>) =>
  offsets.reduce((sum, { high, low }) => sum + (Number(high) - Number(low)), 0);

const lagOf = async (
  admin: ReturnType<Kafka['admin']>,
  mappings: readonly StatusMapping[],
): Promise<PartitionLag[]> => {
  const rows: PartitionLag[] = [];
  const existing = new Set(await admin.listTopics());
  for (const mapping of mappings) {
    if (!existing.has(mapping.topic)) continue;
    const ends = await admin.fetchTopicOffsets(mapping.topic);
    const [committed] = await admin.fetchOffsets({
      groupId: mapping.consumerGroupId,
      topics: [mapping.topic],
    });
    const byPartition = new Map(
      (committed?.partitions ?? []).map(({ partition, offset }) => [partition, Number(offset)]),
    );
    for (const { partition, high, low } of ends.sort((a, b) => a.partition - b.partition)) {
      const offset = byPartition.get(partition);
      const hasCommit = offset !== undefined && offset >= 0;
      rows.push({
        mapping: mapping.id,
        group: mapping.consumerGroupId,
        topic: mapping.topic,
        partition,
        committed: hasCommit ? offset : null,
        end: Number(high),
        lag: Number(high) - (hasCommit ? offset : Number(low)),
      });
    }
  }
  return rows;
};

/** Each order state's count, from the `order:<id>:state` keys (SCAN: fine for a local stack). */
const ordersByState = async (redis: RedisService): Promise<Record<string, number>> => {
  const counts: Record<string, number> = {};
  let cursor: string | number = '0';
  do {
    const [next, keys]: [string | number, string[]] = await redis.client.scan(cursor, {
      match: 'order:*:state',
      count: 500,
    });
    if (keys.length > 0) {
      const states = await redis.client.mget<Array<{ status?: string } | null>>(...keys);
      for (const state of states) {
        const status = state?.status ?? 'unknown';
        counts[status] = (counts[status] ?? 0) + 1;
      }
    }
    cursor = next;
  } while (String(cursor) !== '0');
  return counts;
};

/** Reads every part of the status; never throws. */
export const collectStatus = async ({
  kafka,
  redis,
  mappings,
  kafkaMissing = 'Kafka is not configured (KAFKA_BROKERS)',
  redisMissing = 'Redis is not configured (UPSTASH_REDIS_REST_URL)',
  today = new Date().toISOString().slice(0, 10),
}: StatusDeps): Promise<StatusReport> => {
  const report: StatusReport = {
    at: new Date().toISOString(),
    health: { kafka: missing(kafkaMissing), redis: missing(redisMissing) },
    lag: missing(kafkaMissing),
    deadLetters: missing(kafkaMissing),
    fallback: missing(redisMissing),
    orders: missing(redisMissing),
    analytics: missing(redisMissing),
  };
  if (kafka) {
    const admin = kafka.admin();
    const started = performance.now();
    const connected = await part(async () => {
      await admin.connect();
      const { brokers } = await admin.describeCluster();
      return { brokers: brokers.length, latencyMs: Math.round(performance.now() - started) };
    });
    report.health.kafka = connected;
    if (connected.ok) {
      report.lag = await part(() => lagOf(admin, mappings));
      report.deadLetters = await part(async () => {
        const dlqs = (await admin.listTopics()).filter((topic) => topic.endsWith('.dlq')).sort();
        const counts = [];
        for (const topic of dlqs) {
          counts.push({ topic, records: recordsIn(await admin.fetchTopicOffsets(topic)) });
        }
        return counts;
      });
    } else {
      const problem = `the broker did not answer: ${connected.problem}`;
      report.lag = missing(problem);
      report.deadLetters = missing(problem);
    }
    await admin.disconnect().catch(() => undefined);
  }
  if (redis) {
    const health = await redis.healthCheck();
    const down = health.status === 'connected' ? '' : `Redis did not answer: ${health.error}`;
    report.health.redis =
      health.status === 'connected'
        ? { ok: true, value: { latencyMs: health.latencyMs } }
        : missing(down);
    if (health.status === 'connected') {
      report.fallback = await part(async () => {
        const topics = [...new Set([...PARKED_TOPICS, ...(await fallbackTopics(redis))])].sort();
        const lengths = [];
        for (const topic of topics) {
          lengths.push({ topic, length: await redis.client.llen(fallbackListKey(topic)) });
        }
        return lengths;
      });
      report.orders = await part(() => ordersByState(redis));
      report.analytics = await part(() => getDailyStats({ redis }, today));
    } else {
      report.fallback = missing(down);
      report.orders = missing(down);
      report.analytics = missing(down);
    }
  }
  return report;
};
