import { describe, expect, inject, it } from 'vitest';
import type { HealthReport } from '../../lib/health.ts';

const apiUrl = inject('apiUrl');
const stack = inject('stack');

describe('GET /health through serverless offline', () => {
  it('answers healthy with Redis and Kafka reached through the real clients', async () => {
    const response = await fetch(`${apiUrl}/health`);
    const report = (await response.json()) as HealthReport & {
      services: { redis: { latencyMs: number }; kafka: { clientId: string } };
    };

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(report).toMatchObject({
      status: 'healthy',
      profile: 'development',
      services: {
        redis: { status: 'connected' },
        kafka: { status: 'connected', brokers: 1, bootstrap: [stack.kafkaBrokers] },
      },
    });
    expect(report.tests).toMatchObject({
      redis: { status: 'passed' },
      kafka: { status: 'passed' },
    });
    expect(report.services.redis.latencyMs).toBeGreaterThanOrEqual(0);
    expect(report.services.kafka.clientId).toMatch(/^narad-services/);
    expect(Date.parse(report.timestamp)).not.toBeNaN();
  });

  it('never shows the Upstash token', async () => {
    const body = await (await fetch(`${apiUrl}/health`)).text();
    expect(body).not.toContain(stack.upstashToken);
  });
});
