import { describe, expect, it } from 'vitest';
import { httpStatusOfHealth, overallStatus } from '../../lib/health.ts';

const up = { status: 'connected' } as const;
const down = { status: 'disconnected' } as const;

describe('overall health', () => {
  it('is healthy when Redis and Kafka are both connected, in either profile', () => {
    expect(overallStatus('development', { redis: up, kafka: up } as never)).toBe('healthy');
    expect(overallStatus('production', { redis: up, kafka: up } as never)).toBe('healthy');
  });

  it('is degraded in development when a service is down, because the fallbacks carry on', () => {
    expect(overallStatus('development', { redis: up, kafka: down } as never)).toBe('degraded');
    expect(overallStatus('development', { redis: down, kafka: up } as never)).toBe('degraded');
  });

  it('is unhealthy in production when a service is down, and only that answers 503', () => {
    const status = overallStatus('production', { redis: up, kafka: down } as never);
    expect(status).toBe('unhealthy');
    expect(httpStatusOfHealth({ status } as never)).toBe(503);
    expect(httpStatusOfHealth({ status: 'degraded' } as never)).toBe(200);
  });

  it('is not healthy when a service answers but its live test fails', () => {
    const failed = { status: 'failed', latencyMs: 3, error: 'x' } as const;
    const passed = { status: 'passed', latencyMs: 3 } as const;
    expect(
      overallStatus('development', { redis: up, kafka: up } as never, {
        redis: passed,
        kafka: failed,
      }),
    ).toBe('degraded');
    expect(
      overallStatus('production', { redis: up, kafka: up } as never, {
        redis: failed,
        kafka: passed,
      }),
    ).toBe('unhealthy');
  });

  it('answers 500 for an error report (the check itself could not run)', () => {
    expect(httpStatusOfHealth({ status: 'error' })).toBe(500);
  });
});
