import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { isServiceKey } from './auth/credentials.ts';
import { type RateLimitStatus, rateLimitStatus } from './auth/rate-limit.ts';
import type { AuthConfig, Config, Profile } from './config.ts';
import { budgetMs } from './deadline.ts';
import { UnauthorizedError } from './errors.ts';
import { checkKafka, type KafkaHealth } from './kafka/health.ts';
import type { KafkaService } from './kafka/producer.ts';
import type { RedisHealth } from './redis/health.ts';
import type { RedisService } from './redis/service.ts';
import { HEALTH_TOPIC } from './topics.ts';

export type OverallStatus = 'healthy' | 'degraded' | 'unhealthy' | 'error';

type NotConfigured = { status: 'not-configured'; hint: string };

/** A part running in this process's memory (npm start on a machine without it). */
type Embedded = { status: 'embedded'; note: string };

/** A live round trip through a service, the seed's "service tests". */
export type LiveTest =
  | { status: 'passed'; latencyMs: number }
  | { status: 'failed'; latencyMs: number; error: string }
  | { status: 'skipped'; reason: string };

export { HEALTH_TOPIC } from './topics.ts';

/** Who may call the API, as this deployment is configured (SECURITY.md). */
export type AuthReport =
  | {
      mode: 'session';
      /** Whether a service API key exists (analytics ingestion by services, this document). */
      serviceKey: 'configured' | 'not-configured';
      rateLimit: RateLimitStatus;
    }
  | { mode: 'none'; warning: string; rateLimit: RateLimitStatus };

export interface HealthReport {
  status: OverallStatus;
  timestamp: string;
  profile: Profile;
  stage: string;
  /** The parts running embedded, when any: the report is then `degraded` at best. */
  embedded?: Array<'kafka' | 'redis'>;
  services: {
    redis: RedisHealth | NotConfigured | Embedded;
    kafka: (KafkaHealth & { clientId: string; bootstrap: string[] }) | NotConfigured | Embedded;
  };
  tests: { redis: LiveTest; kafka: LiveTest };
  auth: AuthReport;
}

/** What anyone may see of the report when the API checks sessions: the status alone. */
export type PublicHealthReport = Pick<HealthReport, 'status'>;

export interface HealthDeps {
  config: Config;
  redis: RedisService | undefined;
  kafkaClient: Kafka | undefined;
  kafka: KafkaService | undefined;
}

const isUp = (service: { status: string }) => service.status === 'connected';
/** Worth a live test: reachable, or in this process. */
const isUsable = (service: { status: string }) => isUp(service) || service.status === 'embedded';
const isOk = (test: LiveTest) => test.status === 'passed';

/**
 * The seed's rule: every service up and every live test passed is `healthy`; anything less is
 * `degraded` in development (the fallbacks carry on) and `unhealthy` in production.
 */
export const overallStatus = (
  profile: Profile,
  services: HealthReport['services'],
  tests: HealthReport['tests'] = {
    redis: { status: 'passed', latencyMs: 0 },
    kafka: { status: 'passed', latencyMs: 0 },
  },
): OverallStatus => {
  if (isUp(services.redis) && isUp(services.kafka) && isOk(tests.redis) && isOk(tests.kafka))
    return 'healthy';
  return profile === 'production' ? 'unhealthy' : 'degraded';
};

const timed = async (run: () => Promise<void>): Promise<LiveTest> => {
  const started = performance.now();
  const latencyMs = () => Math.round(performance.now() - started);
  try {
    await run();
    return { status: 'passed', latencyMs: latencyMs() };
  } catch (error) {
    return {
      status: 'failed',
      latencyMs: latencyMs(),
      error: error instanceof Error ? error.message : String(error),
    };
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

/** One message to health.test through the container's own producer (and so warms it). */
const kafkaSend = (kafka: KafkaService) =>
  timed(async () => {
    await kafka.send(HEALTH_TOPIC, { value: { test: true, timestamp: new Date().toISOString() } });
  });

/**
 * The longest the Kafka metadata request may take, cut to what is left of the invocation: a
 * broker that hangs must leave the report time to say so before the function's timeout.
 */
const KAFKA_CHECK_TIMEOUT_MS = 5_000;

const skipped = (reason: string): LiveTest => ({ status: 'skipped', reason });

/** The auth part of the report: the mode, whether a service key exists, the rate limit. */
export const authReport = (
  config: Pick<Config, 'auth' | 'embedded' | 'redis' | 'rateLimit'>,
): AuthReport =>
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

const embeddedPart = async (what: string, toRunIt: string): Promise<Embedded> => ({
  status: 'embedded',
  note: `${what} runs in memory in this process (npm start found no ${what}); data is lost when it stops. Install ${toRunIt} to run the real one.`,
});

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
  // Redis: the live round trip is the check too (one request); only when it fails does a PING
  // tell "unreachable" from "refused" (a wrong token), and the test then counts as skipped.
  const redisChain = async () => {
    if (config.embedded.redis || !redis || !config.redis) {
      const health: HealthReport['services']['redis'] = config.embedded.redis
        ? await embeddedPart('Redis', 'a Redis server (or UPSTASH_REDIS_REST_URL)')
        : {
            status: 'not-configured',
            hint: 'set UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN',
          };
      const test =
        redis && isUsable(health)
          ? await redisRoundTrip(redis)
          : skipped(`redis is ${health.status}`);
      return { health, test };
    }
    const test = await redisRoundTrip(redis);
    if (test.status === 'passed') {
      return { health: { status: 'connected', latencyMs: test.latencyMs } as const, test };
    }
    const health = await redis.healthCheck();
    return { health, test: isUp(health) ? test : skipped(`redis is ${health.status}`) };
  };
  const kafkaChain = async () => {
    const health: HealthReport['services']['kafka'] = config.embedded.kafka
      ? await embeddedPart('Kafka', 'Java and Maven for the local broker (or KAFKA_BROKERS)')
      : kafkaClient && config.kafka
        ? {
            ...(await checkKafka(kafkaClient, budgetMs(KAFKA_CHECK_TIMEOUT_MS))),
            clientId: config.kafka.clientId,
            bootstrap: config.kafka.brokers,
          }
        : { status: 'not-configured', hint: 'set KAFKA_BROKERS or MSK_CLUSTER_ARN' };
    const test =
      kafka && isUsable(health) ? await kafkaSend(kafka) : skipped(`kafka is ${health.status}`);
    return { health, test };
  };
  const [redisPart, kafkaPart] = await Promise.all([redisChain(), kafkaChain()]);
  const services = { redis: redisPart.health, kafka: kafkaPart.health };
  const [redisTest, kafkaTest] = [redisPart.test, kafkaPart.test];
  const tests = { redis: redisTest, kafka: kafkaTest };
  const embedded = (['kafka', 'redis'] as const).filter((part) => config.embedded[part]);
  return {
    status: overallStatus(config.profile, services, tests),
    timestamp: new Date().toISOString(),
    profile: config.profile,
    stage: config.stage,
    ...(embedded.length > 0 ? { embedded } : {}),
    services,
    tests,
    auth: authReport(config),
  };
};

/**
 * Whether a caller may see the whole report. With AUTH_MODE=session the details (brokers,
 * client id, latencies, error messages) are for the service key only; anyone else gets the
 * status. With AUTH_MODE=none (development) everyone sees everything, and the report says why.
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

/** The report as the public sees it: the status alone. */
export const publicHealth = ({ status }: HealthReport): PublicHealthReport => ({ status });

/** 503 when the report says the service should not take traffic. */
export const httpStatusOfHealth = (report: Pick<HealthReport, 'status'>): number =>
  report.status === 'unhealthy' ? 503 : report.status === 'error' ? 500 : 200;
