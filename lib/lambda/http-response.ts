import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
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
