import { errors as upstashErrors } from '@upstash/redis';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import type { z } from 'zod';
import {
  ConflictError,
  ForbiddenError,
  KafkaUnavailableError,
  MessageNotAcceptedError,
  NaradError,
  NotFoundError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UnauthorizedError,
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
  if (error instanceof UnauthorizedError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (error instanceof TooManyRequestsError) return 429;
  if (
    error instanceof ServiceUnavailableError ||
    error instanceof KafkaUnavailableError ||
    error instanceof MessageNotAcceptedError
  ) {
    return 503;
  }
  return 500;
};

/** What a client needs to act on an error: when to retry, how to authenticate. */
const errorHeaders = (error: unknown, statusCode: number): Record<string, string> => {
  if (error instanceof TooManyRequestsError) {
    return { 'retry-after': String(error.retryAfterSeconds) };
  }
  if (statusCode === 503) return { 'retry-after': '5' };
  if (statusCode === 401) return { 'www-authenticate': 'Bearer' };
  return {};
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
  return json(statusCode, { error: message }, errorHeaders(error, statusCode));
};

/** The largest request body any route accepts (413 above it). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The deepest nesting of objects and arrays a JSON body may have (400 deeper). Our bodies need
 * four levels (`{events: [{data: {...}}]}`); the bound keeps a 64 KiB body of `[[[[...` from
 * overflowing the stack of whatever walks the value later (validation, JSON.stringify).
 */
export const MAX_JSON_DEPTH = 32;

/** At most this many characters of a validation message go into a response. */
const MAX_MESSAGE_CHARS = 500;

/** The header's value, whatever its case (API Gateway lower-cases them; tools may not). */
export const header = (event: APIGatewayProxyEventV2, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
};

const clip = (text: string, max: number): string =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

type Issue = z.core.$ZodIssue;

/** How strongly a union branch's issues say "the body is not this branch at all". */
const mismatchOf = (issues: Issue[]): number =>
  issues.reduce(
    (score, issue) =>
      score +
      (issue.code === 'unrecognized_keys' ? issue.keys.length : 0) +
      (issue.code === 'invalid_type' && issue.path.length === 0 ? 1 : 0),
    0,
  );

/**
 * A union's "Invalid input" says nothing; the issues of the branch the body came closest to
 * (fewest unknown keys and root type mismatches, then fewest issues) name the problem.
 */
const specificIssues = (issue: Issue): Issue[] => {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [issue];
  const closest = [...issue.errors].sort(
    (a, b) => mismatchOf(a) - mismatchOf(b) || a.length - b.length,
  )[0] as Issue[];
  return closest.flatMap((inner) =>
    specificIssues({ ...inner, path: [...issue.path, ...inner.path] } as Issue),
  );
};

const describeIssues = (error: z.ZodError): string =>
  clip(
    error.issues
      .flatMap(specificIssues)
      .slice(0, 3)
      .map((issue) => {
        const where = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
        return `${clip(where, 100)}: ${clip(issue.message, 200)}`;
      })
      .join('; '),
    MAX_MESSAGE_CHARS,
  );

/** Zod says "expected string, received undefined" for a missing field; "is required" says it plainly. */
const requiredMessage = (issue: z.core.$ZodRawIssue): string | undefined =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined;

/**
 * Validates `input` against `schema`.
 * @throws ValidationError naming the first offending fields.
 */
export const validate = <S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> => {
  const parsed = schema.safeParse(input, { error: requiredMessage });
  if (!parsed.success)
    throw new ValidationError(`Invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
};

// JSON.parse keeps a "__proto__" key as an own property, but any later copy of it (zod's
// record parsing, a spread) would set a prototype instead. The reviver sees keys after
// unescaping, so "\u005f_proto__" is caught too. A number beyond the double range (1e999)
// parses to Infinity and would silently become null in JSON again, so it is refused as well.
const reviver = (key: string, value: unknown) => {
  if (key === '__proto__') throw new ValidationError('Request body holds the key "__proto__"');
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new ValidationError(
      `Request body holds a number too large to represent${key ? ` (at "${clip(key, 100)}")` : ''}`,
    );
  }
  return value;
};

/** True when `text` nests objects/arrays deeper than `limit` (strings are skipped). */
const nestsDeeperThan = (text: string, limit: number): boolean => {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character, which therefore cannot end the string.
      if (code === 0x5c) i += 1;
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x7b || code === 0x5b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (code === 0x7d || code === 0x5d) depth -= 1;
  }
  return false;
};

/**
 * The JSON value of a request body's text.
 * @throws ValidationError when it is empty, nested deeper than MAX_JSON_DEPTH, not JSON, or
 *   holds a `__proto__` key or a number beyond the double range.
 */
export const parseJson = (text: string): unknown => {
  if (text.trim() === '') throw new ValidationError('Request body is empty; send a JSON object');
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new ValidationError(
      `Request body nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels`,
    );
  }
  try {
    return JSON.parse(text, reviver);
  } catch (error) {
    if (error instanceof ValidationError) throw error; // the reviver's own refusal
    throw new ValidationError(
      `Request body is not valid JSON (${clip(error instanceof Error ? error.message : String(error), 200)})`,
    );
  }
};

/**
 * The request's JSON body, validated by `schema`.
 * @throws UnsupportedMediaTypeError (415) unless the content type is JSON,
 *   PayloadTooLargeError (413) over `maxBytes`, ValidationError (400) for an empty, too deeply
 *   nested or malformed JSON body, or one that does not match the schema.
 */
export const parseJsonBody = <S extends z.ZodType>(
  event: APIGatewayProxyEventV2,
  schema: S,
  maxBytes = MAX_BODY_BYTES,
): z.output<S> => {
  const contentType = header(event, 'content-type') ?? '';
  if (!/^application\/(.+\+)?json\s*(;|$)/i.test(contentType)) {
    throw new UnsupportedMediaTypeError(
      `Content-Type must be application/json (got ${contentType ? JSON.stringify(clip(contentType, 100)) : 'none'})`,
    );
  }
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text) > maxBytes) {
    throw new PayloadTooLargeError(`Request body is larger than ${maxBytes} bytes`);
  }
  return validate(schema, parseJson(text), 'request body');
};

/**
 * The correlation id of a request: the caller's `x-correlation-id`, else API Gateway's request
 * id. serverless offline (IS_OFFLINE) gives every request the same request id, which would tie
 * unrelated requests together in the logs and the Kafka headers; there a fresh id stands in.
 */
export const correlationIdOf = (
  event: APIGatewayProxyEventV2,
  env: NodeJS.ProcessEnv = process.env,
): string =>
  header(event, 'x-correlation-id')?.slice(0, 128) ||
  (env.IS_OFFLINE === 'true' ? undefined : event.requestContext?.requestId) ||
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
