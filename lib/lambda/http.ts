import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { NaradError, ServiceUnavailableError, ValidationError } from '../errors.ts';

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
  if (error instanceof ValidationError) return 400;
  if (error instanceof ServiceUnavailableError) return 503;
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
  return json(statusCode, { error: message });
};
