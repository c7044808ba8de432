import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { isServiceKey } from './auth/credentials.ts';
import { type RateLimitStatus, rateLimitStatus } from './auth/rate-limit.ts';
import {
  type AuthConfig,
  type Config,
  inMemoryParts,
  kafkaServers,
  type Profile,
} from './config.ts';
import { budgetMs } from './deadline.ts';
import { UnauthorizedError } from './errors.ts';
import { checkKafka } from './kafka/health.ts';
import type { KafkaService } from './kafka/producer.ts';
import type { RedisHealth } from './redis/health.ts';
import type { RedisService } from './redis/service.ts';
import { HEALTH_TOPIC } from './topics.ts';

export type OverallStatus = 'healthy' | 'degraded' | 'unhealthy' | 'error';

/** A part running in this process's memory (npm start on a machine without it). */
interface Embedded {
  embedded: true;
  note: string;
}

/**
 * A live round trip through a service, the design's `performServiceTests` with its statuses:
 * `pass`, `fail` (with the error), `skip` (the service is down, in development), `unknown`
 * (the invocation had no time left to run it).
 */
export type LiveTest =
  | { status: 'pass'; latencyMs: number }
  | { status: 'fail'; error: string; latencyMs?: number }
  | { status: 'skip'; reason: string }
  | { status: 'unknown'; reason: string };

export { HEALTH_TOPIC } from './topics.ts';

/** Who may call the API, as this deployment is configured (docs/security.md). */
export type AuthReport =
  | {
      mode: 'session';
      /** Whether a service API key exists (analytics ingestion by services, this document). */
      serviceKey: 'configured' | 'not-configured';
      rateLimit: RateLimitStatus;
    }
  | { mode: 'none'; warning: string; rateLimit: RateLimitStatus };

/** `services.redis`: what the design's `redisService.healthCheck()` answers. */
export type RedisReport = RedisHealth | (Extract<RedisHealth, { status: 'connected' }> & Embedded);

/**
 * `services.kafka`: the design's `{status, clientId, brokers}` (brokers: the addresses the
 * client bootstraps from, or the cluster's own when it is discovered from MSK), with what the
 * metadata request found.
 */
export type KafkaReport =
  | {
      status: 'connected';
      clientId: string;
      brokers: string[];
      latencyMs: number;
      /** How many brokers the cluster describes, and which one is its controller. */
      brokerCount: number;
      controller: number | null;
    }
  | {
      status: 'disconnected';
      clientId?: string;
      brokers: string[];
      latencyMs: number;
      error: string;
    }
  | ({ status: 'connected'; brokers: string[]; latencyMs: number } & Embedded);

/** The design's health report (`getServiceHealth` with its `tests`), and more detail. */
export interface HealthReport {
  overall: OverallStatus;
  timestamp: string;
  services: { redis: RedisReport; kafka: KafkaReport };
  tests: { redis: LiveTest; kafka: LiveTest };
  profile: Profile;
  stage: string;
  /** The parts running embedded, when any: the report is then `degraded` at best. */
  embedded?: Array<'kafka' | 'redis'>;
  auth: AuthReport;
}

/** What anyone may see of the report when the API checks sessions: the overall status alone. */
export type PublicHealthReport = Pick<HealthReport, 'overall'>;

export interface HealthDeps {
  config: Config;
  redis: RedisService | undefined;
  kafkaClient: Kafka | undefined;
  kafka: KafkaService | undefined;
}

const isEmbedded = (service: object) => 'embedded' in service;

/**
 * The design's rule: Redis connected, and Kafka connected or the profile development, is
 * `healthy`; anything less is `degraded` in development and `unhealthy` in production. Two
 * additions: a service whose live test failed counts as down (it answers but does not work),
 * and a part running embedded makes the report `degraded` at best (its data dies with the
 * process).
 */
export const overallStatus = (
  profile: Profile,
  services: HealthReport['services'],
  tests: HealthReport['tests'] = {
    redis: { status: 'skip', reason: '' },
    kafka: { status: 'skip', reason: '' },
  },
): OverallStatus => {
  const redisOk = services.redis.status === 'connected' && tests.redis.status !== 'fail';
  const kafkaOk =
    (services.kafka.status === 'connected' && tests.kafka.status !== 'fail') ||
    profile === 'development';
  const embedded = isEmbedded(services.redis) || isEmbedded(services.kafka);
  if (redisOk && kafkaOk && !embedded) return 'healthy';
  return profile === 'development' ? 'degraded' : 'unhealthy';
};

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

const timed = async (run: () => Promise<void>): Promise<LiveTest> => {
  const started = performance.now();
  const latencyMs = () => Math.round(performance.now() - started);
  try {
    await run();
    return { status: 'pass', latencyMs: latencyMs() };
  } catch (error) {
    return { status: 'fail', latencyMs: latencyMs(), error: errorText(error) };
  }
};

/**
 * SET (EX 10) / GET / DEL of a throwaway key, the path every cache write takes, in one
 * MULTI/EXEC: one round trip instead of three.
 */
const redisRoundTrip = (redis: RedisService) =>
  timed(async () => {
    const key = `health:check:${randomUUID()}`;
    const value = { test: true, at: Date.now() };
    const [, read] = await redis.client
      .multi()
      .set(key, value, { ex: 10 })
      .get<typeof value>(key)
      .del(key)
      .exec<['OK', typeof value | null, number]>();
    if (read?.at !== value.at)
      throw new Error('the value read back differs from the value written');
  });

/** The design's test message to health.test, through the container's own producer (and so warms it). */
const kafkaSend = (kafka: KafkaService) =>
  timed(async () => {
    await kafka.send(HEALTH_TOPIC, { test: true, timestamp: Date.now() });
  });

/**
 * The longest the Kafka metadata request may take, cut to what is left of the invocation: a
 * broker that hangs must leave the report time to say so before the function's timeout.
 */
const KAFKA_CHECK_TIMEOUT_MS = 5_000;

/** The live test of a service that is down: `skip` in development, `fail` in production. */
const notRun = (profile: Profile, service: string, health: { status: string; error?: string }) =>
  profile === 'development'
    ? ({ status: 'skip', reason: `${service} is ${health.status}` } as const)
    : ({
        status: 'fail',
        error: `${service} is ${health.status}${health.error ? `: ${health.error}` : ''}`,
      } as const);

/** The auth part of the report: the mode, whether a service key exists, the rate limit. */
export const authReport = (config: Pick<Config, 'auth' | 'redis' | 'rateLimit'>): AuthReport =>
  config.auth.mode === 'none'
    ? {
        mode: 'none',
        warning:
          'AUTH_MODE=none: no authorizer, every route is open to anyone and trusts the userId it is sent; development only',
        rateLimit: rateLimitStatus(config),
      }
    : {
        mode: 'session',
        serviceKey: config.auth.serviceApiKey === undefined ? 'not-configured' : 'configured',
        rateLimit: rateLimitStatus(config),
      };

const embeddedNote = (what: string, toRunIt: string) =>
  `${what} runs in memory in this process (npm start found no ${what}); data is lost when it stops. Install ${toRunIt} to run the real one.`;

/**
 * Checks Redis and Kafka and runs each one's live test when it answered; never throws. The two
 * services are checked side by side, each as one chain, so a report takes the slower chain,
 * not the sum of two lockstep phases.
 */
export const checkHealth = async ({
  config,
  redis,
  kafkaClient,
  kafka,
}: HealthDeps): Promise<HealthReport> => {
  const { profile } = config;
  // Redis: the live round trip is the check too (one request); only when it fails does the
  // service's healthCheck (a PING) tell "unreachable" from "refused" (a wrong token).
  const redisChain = async (): Promise<{ health: RedisReport; test: LiveTest }> => {
    if (!redis) {
      const health: RedisReport = {
        status: 'disconnected',
        latencyMs: 0,
        error: 'Redis is not configured; set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN',
      };
      return { health, test: notRun(profile, 'redis', health) };
    }
    const test = await redisRoundTrip(redis);
    if (test.status === 'pass') {
      const connected = { status: 'connected', latencyMs: test.latencyMs } as const;
      return {
        health:
          config.redis.kind === 'embedded'
            ? {
                ...connected,
                embedded: true,
                note: embeddedNote('Redis', 'a Redis server (or UPSTASH_REDIS_REST_URL)'),
              }
            : connected,
        test,
      };
    }
    const health = await redis.healthCheck();
    return {
      health,
      test: health.status === 'connected' ? test : notRun(profile, 'redis', health),
    };
  };
  const kafkaHealth = async (): Promise<KafkaReport> => {
    if (config.kafka.kind === 'embedded') {
      return {
        status: 'connected',
        brokers: [],
        latencyMs: 0,
        embedded: true,
        note: embeddedNote('Kafka', 'Java and Maven for the local broker (or KAFKA_BROKERS)'),
      };
    }
    const servers = kafkaServers(config.kafka);
    if (!kafkaClient || !servers) {
      return {
        status: 'disconnected',
        brokers: [],
        latencyMs: 0,
        error: 'Kafka is not configured; set KAFKA_BROKERS or MSK_CLUSTER_ARN',
      };
    }
    const { clientId } = servers;
    const brokers = servers.kind === 'brokers' ? servers.brokers : [];
    const cluster = await checkKafka(kafkaClient, budgetMs(KAFKA_CHECK_TIMEOUT_MS));
    if (cluster.status === 'disconnected') return { ...cluster, clientId, brokers };
    return {
      status: 'connected',
      clientId,
      // MSK_CLUSTER_ARN: no brokers are configured, they are discovered; name the cluster's.
      brokers: brokers.length > 0 ? brokers : cluster.addresses,
      latencyMs: cluster.latencyMs,
      brokerCount: cluster.addresses.length,
      controller: cluster.controller,
    };
  };
  const kafkaChain = async (): Promise<{ health: KafkaReport; test: LiveTest }> => {
    const health = await kafkaHealth();
    if (health.status !== 'connected' || !kafka) {
      return { health, test: notRun(profile, 'kafka', health) };
    }
    if (budgetMs(Number.POSITIVE_INFINITY) === 0) {
      return {
        health,
        test: { status: 'unknown', reason: 'the invocation had no time left to run it' },
      };
    }
    return { health, test: await kafkaSend(kafka) };
  };
  const [redisPart, kafkaPart] = await Promise.all([redisChain(), kafkaChain()]);
  const services = { redis: redisPart.health, kafka: kafkaPart.health };
  const tests = { redis: redisPart.test, kafka: kafkaPart.test };
  const embedded = inMemoryParts(config);
  return {
    overall: overallStatus(profile, services, tests),
    timestamp: new Date().toISOString(),
    services,
    tests,
    profile,
    stage: config.stage,
    ...(embedded.length > 0 ? { embedded } : {}),
    auth: authReport(config),
  };
};

/**
 * Whether a caller may see the whole report. With AUTH_MODE=session the details (brokers,
 * client id, latencies, error messages) are for the service key only; anyone else gets the
 * overall status. With AUTH_MODE=none (development) everyone sees everything, and the report says why.
 * @throws UnauthorizedError when an `x-api-key` is sent that is not the service key (an
 *   operator's misconfiguration should not pass as the public view).
 */
export const maySeeHealthDetails = (
  auth: AuthConfig,
  presentedKey: string | undefined,
): boolean => {
  if (auth.mode === 'none') return true;
  if (presentedKey === undefined) return false;
  if (!isServiceKey(auth.serviceApiKey, presentedKey)) {
    throw new UnauthorizedError('x-api-key is not the service key');
  }
  return true;
};

/** The report as the public sees it: the overall status alone. */
export const publicHealth = ({ overall }: HealthReport): PublicHealthReport => ({ overall });

/** 503 when the report says the service should not take traffic. */
export const httpStatusOfHealth = (report: Pick<HealthReport, 'overall'>): number =>
  report.overall === 'unhealthy' ? 503 : report.overall === 'error' ? 500 : 200;
