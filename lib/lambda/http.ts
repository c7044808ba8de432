import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import { briefError, loggableError } from '../log.ts';
import { classifyUpstashFailure } from '../redis/errors.ts';
import { correlationIdOf } from './correlation-id.ts';
import { errorResponse } from './http-response.ts';
import { withInvocationLog } from './invocation-log.ts';

/** A response and, when the handler threw, the error behind it (classifyUpstashFailure'd). */
interface Answer {
  response: APIGatewayProxyStructuredResultV2;
  error?: unknown;
}

const answer = async (
  handle: () => Promise<APIGatewayProxyStructuredResultV2>,
  toResponse: (error: unknown) => APIGatewayProxyStructuredResultV2,
): Promise<Answer> => {
  try {
    return { response: await handle() };
  } catch (thrown) {
    const error = classifyUpstashFailure(thrown);
    return { response: toResponse(error), error };
  }
};

/**
 * The route of a request as the logs name it: API Gateway's route key (`GET /orders/{orderId}`,
 * the template, so the lines of one route group together), else method and path.
 */
export const routeOf = (event: APIGatewayProxyEventV2): string => {
  const key = event?.routeKey || event?.requestContext?.routeKey;
  if (key && key !== '$default') return key;
  return `${event?.requestContext?.http?.method ?? 'HTTP'} ${event?.rawPath ?? ''}`.trim();
};

/**
 * How long serverless offline already held this request before the handler ran, which its
 * timer counts against the timeout but the context's remaining time leaves out (the timer
 * starts before a new container's worker thread boots and loads the bundle; the context's
 * clock after). On a loaded machine that is seconds, and offline would kill the function
 * before its deadline. On AWS the init phase is not counted against the timeout: nothing to
 * subtract there.
 */
const offlineWaitMs = (event: APIGatewayProxyEventV2, env = process.env): number => {
  const arrived = event?.requestContext?.timeEpoch;
  if (env.IS_OFFLINE !== 'true' || typeof arrived !== 'number') return 0;
  return Math.max(0, Date.now() - arrived);
};

/** What an HTTP handler gets besides its event. */
export interface HttpInvocation {
  /** The request's correlation id (see correlationIdOf); also in the logs and the response. */
  correlationId: string;
}

export interface HttpHandlerOptions {
  /** The response for an error the handler threw; `errorResponse` unless told otherwise. */
  errorResponse?: (error: unknown) => APIGatewayProxyStructuredResultV2;
}

export type HttpHandler = (
  event: APIGatewayProxyEventV2,
  context?: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * An API Gateway handler around `handle`: a thrown NaradError becomes its status with the
 * message, anything else a 500 that hides the internals; the response carries the
 * `x-correlation-id`. Each invocation writes one `invocation` log line with function, route,
 * status, duration, correlation id and cold start: info below 500 (a 4xx with the error's name
 * and message), error from 500 on, with the error and its stack when one was thrown.
 */
export const httpHandler =
  (
    name: string,
    handle: (
      event: APIGatewayProxyEventV2,
      invocation: HttpInvocation,
    ) => Promise<APIGatewayProxyStructuredResultV2>,
    options: HttpHandlerOptions = {},
  ): HttpHandler =>
  async (event, context) => {
    const correlationId = correlationIdOf(event);
    const { response } = await withInvocationLog(
      {
        context,
        keys: { function: name, correlation_id: correlationId },
        fields: { route: routeOf(event) },
        uncountedMs: offlineWaitMs(event),
      },
      () => answer(() => handle(event, { correlationId }), options.errorResponse ?? errorResponse),
      ({ response, error }) => {
        const status = response.statusCode ?? 200;
        const failed = status >= 500;
        return {
          level: failed ? 'error' : 'info',
          fields: { status },
          ...(error === undefined
            ? {}
            : { error: failed ? loggableError(error) : briefError(error) }),
        };
      },
    );
    return {
      ...response,
      headers: { 'x-correlation-id': correlationId, ...response.headers },
    };
  };
