import { afterAll, describe, expect, inject, it } from 'vitest';
import type { HealthReport } from '../../lib/health.ts';
import { testStackOutages } from '../support/outages.ts';

const apiUrl = inject('apiUrl');
const outages = testStackOutages();

const health = async () => {
  const response = await fetch(`${apiUrl}/health`);
  return { status: response.status, report: (await response.json()) as HealthReport };
};

describe('GET /health while a service is down (development profile)', () => {
  // Whatever happens below, the next test file finds the stack running again.
  afterAll(async () => {
    await outages.startBroker();
    await outages.startGateway();
  });

  it("stays healthy with Kafka disconnected while the broker is stopped (the design's development rule), its test skipped", async () => {
    await outages.stopBroker();
    const down = await health();
    expect(down.status).toBe(200);
    expect(down.report.overall).toBe('healthy');
    expect(down.report.services.kafka.status).toBe('disconnected');
    expect(down.report.services.redis.status).toBe('connected');
    expect(down.report.tests.kafka).toEqual({ status: 'skip', reason: 'kafka is disconnected' });
    expect(down.report.tests.redis.status).toBe('pass');

    await outages.startBroker();
    const back = await health();
    expect(back.report.overall).toBe('healthy');
    expect(back.report.services.kafka.status).toBe('connected');
    expect(back.report.tests.kafka.status).toBe('pass');
  });

  it('is degraded with Redis disconnected while the gateway is stopped, and healthy once it is back', async () => {
    await outages.stopGateway();
    const down = await health();
    expect(down.status).toBe(200);
    expect(down.report.overall).toBe('degraded');
    expect(down.report.services.redis.status).toBe('disconnected');
    expect(down.report.tests.redis).toEqual({ status: 'skip', reason: 'redis is disconnected' });
    expect(down.report.services.kafka.status).toBe('connected');

    await outages.startGateway();
    const back = await health();
    expect(back.report.overall).toBe('healthy');
  });
});
