import { headerOf } from './headers.ts';

/** The part of an API Gateway event (a route's or an authorizer's) the correlation id comes from. */
export interface CorrelatedRequest {
  headers?: Record<string, string | undefined> | null;
  requestContext?: { requestId?: string };
}

/**
 * The correlation id of a request: the caller's `x-correlation-id`, else API Gateway's request
 * id. serverless offline (IS_OFFLINE) gives every request the same request id, which would tie
 * unrelated requests together in the logs and the Kafka headers; there a fresh id stands in.
 */
export const correlationIdOf = (
  event: CorrelatedRequest,
  env: NodeJS.ProcessEnv = process.env,
): string =>
  headerOf(event.headers, 'x-correlation-id')?.slice(0, 128) ||
  (env.IS_OFFLINE === 'true' ? undefined : event.requestContext?.requestId) ||
  crypto.randomUUID();
