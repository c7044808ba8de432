import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import {
  checkHealth,
  type HealthReport,
  httpStatusOfHealth,
  overallStatus,
} from '../../lib/health.ts';

const redisUp = { status: 'connected', latencyMs: 1 } as const;
const redisDown = { status: 'disconnected', latencyMs: 1, error: 'refused' } as const;
const kafkaUp: HealthReport['services']['kafka'] = {
  status: 'connected',
  clientId: 'narad',
  brokers: ['127.0.0.1:9092'],
  latencyMs: 1,
  brokerCount: 1,
  controller: 1,
};
const kafkaDown: HealthReport['services']['kafka'] = {
  status: 'disconnected',
  clientId: 'narad',
  brokers: ['127.0.0.1:9092'],
  latencyMs: 1,
  error: 'refused',
};
const pass = { status: 'pass', latencyMs: 2 } as const;
const fail = { status: 'fail', latencyMs: 2, error: 'x' } as const;
const skip = { status: 'skip', reason: 'down' } as const;

const services = (
  redis: HealthReport['services']['redis'],
  kafka: HealthReport['services']['kafka'],
) => ({ redis, kafka });

describe("the overall status, by the design document's rule", () => {
  it('is healthy when Redis and Kafka are both connected, in either profile', () => {
    const tests = { redis: pass, kafka: pass };
    expect(overallStatus('development', services(redisUp, kafkaUp), tests)).toBe('healthy');
    expect(overallStatus('production', services(redisUp, kafkaUp), tests)).toBe('healthy');
  });

  it('stays healthy in development when only Kafka is down (the fallback list carries on)', () => {
    expect(
      overallStatus('development', services(redisUp, kafkaDown), { redis: pass, kafka: skip }),
    ).toBe('healthy');
  });

  it('is degraded in development and unhealthy in production when Redis is down', () => {
    const tests = { redis: skip, kafka: pass };
    expect(overallStatus('development', services(redisDown, kafkaUp), tests)).toBe('degraded');
    expect(overallStatus('production', services(redisDown, kafkaUp), tests)).toBe('unhealthy');
  });

  it('is unhealthy in production when Kafka is down, and only that answers 503', () => {
    const overall = overallStatus('production', services(redisUp, kafkaDown), {
      redis: pass,
      kafka: fail,
    });
    expect(overall).toBe('unhealthy');
    expect(httpStatusOfHealth({ overall })).toBe(503);
    expect(httpStatusOfHealth({ overall: 'degraded' })).toBe(200);
    expect(httpStatusOfHealth({ overall: 'healthy' })).toBe(200);
  });

  it('counts a service that answers but fails its live test as down', () => {
    expect(
      overallStatus('production', services(redisUp, kafkaUp), { redis: pass, kafka: fail }),
    ).toBe('unhealthy');
    expect(
      overallStatus('development', services(redisUp, kafkaUp), { redis: fail, kafka: pass }),
    ).toBe('degraded');
  });

  it('is degraded at best while a part runs embedded (its data dies with the process)', () => {
    const embeddedKafka: HealthReport['services']['kafka'] = {
      status: 'connected',
      brokers: [],
      latencyMs: 0,
      embedded: true,
      note: 'in memory',
    };
    expect(
      overallStatus('development', services(redisUp, embeddedKafka), { redis: pass, kafka: pass }),
    ).toBe('degraded');
  });

  it('answers 500 for an error report (the check itself could not run)', () => {
    expect(httpStatusOfHealth({ overall: 'error' })).toBe(500);
  });
});

describe('the live tests of services that are not there', () => {
  it('are skipped in development, and the report says why in each service', async () => {
    const config = loadConfig({});

    const report = await checkHealth({
      config,
      redis: undefined,
      kafkaClient: undefined,
      kafka: undefined,
    });

    expect(report.tests).toEqual({
      redis: { status: 'skip', reason: 'redis is disconnected' },
      kafka: { status: 'skip', reason: 'kafka is disconnected' },
    });
    expect(report.services.redis).toMatchObject({
      status: 'disconnected',
      error: expect.stringMatching(/UPSTASH_REDIS_REST_URL/),
    });
    expect(report.services.kafka).toMatchObject({
      status: 'disconnected',
      brokers: [],
      error: expect.stringMatching(/KAFKA_BROKERS or MSK_CLUSTER_ARN/),
    });
    expect(report.overall).toBe('degraded');
  });

  it('fail in production, with the reason as the error', async () => {
    const config = { ...loadConfig({}), profile: 'production' as const };

    const report = await checkHealth({
      config,
      redis: undefined,
      kafkaClient: undefined,
      kafka: undefined,
    });

    expect(report.tests.redis).toEqual({
      status: 'fail',
      error: expect.stringMatching(/^redis is disconnected: Redis is not configured/),
    });
    expect(report.tests.kafka).toMatchObject({ status: 'fail' });
    expect(report.overall).toBe('unhealthy');
  });
});
