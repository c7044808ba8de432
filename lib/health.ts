import type { Kafka } from 'kafkajs';
import type { Config, Profile } from './config.ts';
import { checkKafka, type KafkaHealth } from './kafka/health.ts';
import type { RedisHealth } from './redis/health.ts';
import type { RedisService } from './redis/service.ts';

export type OverallStatus = 'healthy' | 'degraded' | 'unhealthy';

type NotConfigured = { status: 'not-configured'; hint: string };

export interface HealthReport {
  status: OverallStatus;
  timestamp: string;
  profile: Profile;
  stage: string;
  services: {
    redis: RedisHealth | NotConfigured;
    kafka: (KafkaHealth & { clientId: string; bootstrap: string[] }) | NotConfigured;
  };
}

export interface HealthDeps {
  config: Config;
  redis: RedisService | undefined;
  kafkaClient: Kafka | undefined;
}

const isUp = (service: { status: string }) => service.status === 'connected';

/**
 * The seed's rule: every service up is `healthy`; a service down is `degraded` in development
 * (the fallbacks carry on) and `unhealthy` in production (the caller should be told).
 */
export const overallStatus = (
  profile: Profile,
  services: HealthReport['services'],
): OverallStatus => {
  if (isUp(services.redis) && isUp(services.kafka)) return 'healthy';
  return profile === 'production' ? 'unhealthy' : 'degraded';
};

/** Checks Redis and Kafka concurrently; never throws, a failed check is part of the report. */
export const checkHealth = async ({
  config,
  redis,
  kafkaClient,
}: HealthDeps): Promise<HealthReport> => {
  const [redisHealth, kafkaHealth] = await Promise.all([
    redis && config.redis
      ? redis.healthCheck()
      : ({
          status: 'not-configured',
          hint: 'set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN',
        } as const),
    kafkaClient && config.kafka
      ? checkKafka(kafkaClient).then((health) => ({
          ...health,
          clientId: config.kafka?.clientId ?? '',
          bootstrap: config.kafka?.brokers ?? [],
        }))
      : ({ status: 'not-configured', hint: 'set KAFKA_BROKERS or MSK_CLUSTER_ARN' } as const),
  ]);
  const services = { redis: redisHealth, kafka: kafkaHealth };
  return {
    status: overallStatus(config.profile, services),
    timestamp: new Date().toISOString(),
    profile: config.profile,
    stage: config.stage,
    services,
  };
};

/** 503 only when the report says the service should not take traffic. */
export const httpStatusOfHealth = (report: HealthReport): number =>
  report.status === 'unhealthy' ? 503 : 200;
