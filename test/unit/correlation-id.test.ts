import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { correlationIdOf } from '../../lib/lambda/correlation-id.ts';
import { loadEvent } from '../support/fixtures.ts';

const request = (headers: Record<string, string> = {}): APIGatewayProxyEventV2 => {
  const event = structuredClone(loadEvent<APIGatewayProxyEventV2>('http-get-health.json'));
  return { ...event, headers, requestContext: { ...event.requestContext, requestId: 'req-1' } };
};

describe('the correlation id of a request', () => {
  it("is the caller's x-correlation-id when there is one", () => {
    expect(correlationIdOf(request({ 'x-correlation-id': 'checkout-7f3a' }), {})).toBe(
      'checkout-7f3a',
    );
  });

  it("is API Gateway's request id otherwise", () => {
    expect(correlationIdOf(request(), {})).toBe('req-1');
  });

  it('is a fresh id under serverless offline, whose request id is the same for every request', () => {
    const first = correlationIdOf(request(), { IS_OFFLINE: 'true' });
    const second = correlationIdOf(request(), { IS_OFFLINE: 'true' });

    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(second).not.toBe(first);
  });
});
