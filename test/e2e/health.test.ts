import { describe, expect, inject, it } from 'vitest';
import type { HealthReport } from '../../lib/health.ts';

const apiUrl = inject('apiUrl');
const stack = inject('stack');

describe('GET /health through serverless offline', () => {
  it("answers the design's report: overall, services.redis, services.kafka {status, clientId, brokers}, tests", async () => {
    const response = await fetch(`${apiUrl}/health`);
    const report = (await response.json()) as HealthReport;

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(report).toMatchObject({
      overall: 'healthy',
      services: {
        redis: { status: 'connected', latencyMs: expect.any(Number) },
        kafka: {
          status: 'connected',
          clientId: expect.stringMatching(/^narad-services/),
          brokers: [stack.kafkaBrokers],
          brokerCount: 1,
        },
      },
      tests: { redis: { status: 'pass' }, kafka: { status: 'pass' } },
      profile: 'development',
    });
    expect(report).not.toHaveProperty('status');
    expect(Date.parse(report.timestamp)).not.toBeNaN();
  });

  it('never shows the Upstash token', async () => {
    const body = await (await fetch(`${apiUrl}/health`)).text();
    expect(body).not.toContain(stack.upstashToken);
  });
});
