import { errors as upstashErrors } from '@upstash/redis';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import type { z } from 'zod';
import {
  ConflictError,
  KafkaUnavailableError,
  MessageNotAcceptedError,
  NaradError,
  NotFoundError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../errors.ts';
import { briefError, loggableError } from '../log.ts';
import { classifyRedisError } from '../redis/errors.ts';
import { withInvocationLog } from './invocation-log.ts';

/** A JSON response for API Gateway HTTP APIs (payload format 2.0). */
export const json = (
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** The one place where an error becomes an HTTP status. */
export const httpStatusOf = (error: unknown): number => {
  if (error instanceof PayloadTooLargeError) return 413;
  if (error instanceof UnsupportedMediaTypeError) return 415;
  if (error instanceof ValidationError) return 400;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (
    error instanceof ServiceUnavailableError ||
    error instanceof KafkaUnavailableError ||
    error instanceof MessageNotAcceptedError
  ) {
    return 503;
  }
  return 500;
};

/**
 * An error response that names the problem for errors we raised on purpose (their messages
 * never hold secrets), and hides the internals of anything unexpected: those belong in the
 * logs, not in the response.
 */
export const errorResponse = (error: unknown): APIGatewayProxyStructuredResultV2 => {
  const statusCode = httpStatusOf(error);
  const message =
    error instanceof NaradError
      ? error.message
      : 'Internal error; see the function logs for details.';
  return json(statusCode, { error: message }, statusCode === 503 ? { 'retry-after': '5' } : {});
};

export const MAX_BODY_BYTES = 64 * 1024;

/** The header's value, whatever its case (API Gateway lower-cases them; tools may not). */
export const header = (event: APIGatewayProxyEventV2, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
};

const describeIssues = (error: z.ZodError): string =>
  error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
    .join('; ');

/**
 * Validates `input` against `schema`.
 * @throws ValidationError naming the first offending fields.
 */
export const validate = <S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> => {
  const parsed = schema.safeParse(input);
  if (!parsed.success)
    throw new ValidationError(`Invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
};

// JSON.parse keeps a "__proto__" key as an own property, but any later spread or merge of it
// would touch prototypes; such a body is refused outright.
const rejectProto = (key: string, value: unknown) => {
  if (key === '__proto__') throw new SyntaxError('the key "__proto__" is not allowed');
  return value;
};

/**
 * The request's JSON body, validated by `schema`.
 * @throws UnsupportedMediaTypeError (415) unless the content type is JSON,
 *   PayloadTooLargeError (413) over `maxBytes`, ValidationError (400) for malformed JSON or
 *   a body that does not match the schema.
 */
export const parseJsonBody = <S extends z.ZodType>(
  event: APIGatewayProxyEventV2,
  schema: S,
  maxBytes = MAX_BODY_BYTES,
): z.output<S> => {
  const contentType = header(event, 'content-type') ?? '';
  if (!/^application\/(.+\+)?json\s*(;|$)/i.test(contentType)) {
    throw new UnsupportedMediaTypeError(
      `Content-Type must be application/json (got ${contentType ? JSON.stringify(contentType) : 'none'})`,
    );
  }
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text) > maxBytes) {
    throw new PayloadTooLargeError(`Request body is larger than ${maxBytes} bytes`);
  }
  let body: unknown;
  try {
    body = text.includes('"__proto__"') ? JSON.parse(text, rejectProto) : JSON.parse(text);
  } catch (error) {
    throw new ValidationError(
      `Request body is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  return validate(schema, body, 'request body');
};

/** The correlation id of a request: the caller's `x-correlation-id`, else API Gateway's request id. */
export const correlationIdOf = (event: APIGatewayProxyEventV2): string =>
  header(event, 'x-correlation-id')?.slice(0, 128) ||
  event.requestContext?.requestId ||
  crypto.randomUUID();

/**
 * Failures of the raw @upstash/redis client (used for lists, pipelines) in our error family:
 * a refusal stays a 500 with a safe message, an unreachable endpoint becomes a 503.
 */
const asNaradError = (error: unknown): unknown => {
  if (error instanceof NaradError) return error;
  if (error instanceof upstashErrors.UpstashError) return classifyRedisError(error);
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : '';
  if (name === 'TimeoutError' || name === 'AbortError' || message === 'fetch failed') {
    return classifyRedisError(error);
  }
  return error;
};

/** A response and, when the handler threw, the error behind it (asNaradError-classified). */
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
    const error = asNaradError(thrown);
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
