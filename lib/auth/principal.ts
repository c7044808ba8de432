import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { AuthConfig } from '../config.ts';
import { UnauthorizedError } from '../errors.ts';
import { headerOf } from '../lambda/headers.ts';

/** Who is calling, as a function sees it. */
export type Principal =
  /** A user, proven by a session the authorizer found in Redis. */
  | { kind: 'user'; userId: string }
  /** A backend service, proven by the service API key. */
  | { kind: 'service' }
  /** Nobody checked (AUTH_MODE=none, development only): the request is taken at its word. */
  | { kind: 'anonymous' };

const USER_ID = /^[A-Za-z0-9_.@+-]{1,128}$/;

/** serverless offline lets this header replace the authorizer's context; API Gateway does not. */
const OFFLINE_OVERRIDE_HEADER = 'sls-offline-authorizer-override';

const NEEDS_CREDENTIALS =
  'This route needs credentials: Authorization: Bearer <session id> (or x-api-key where a service may call)';

/**
 * The principal the authorizer established for this request (`requestContext.authorizer.lambda`).
 * With AUTH_MODE=session and no such context (a route deployed without its authorizer) the
 * request is refused rather than served to nobody in particular.
 * @throws UnauthorizedError when the context is missing or is not one the authorizer writes,
 *   or the request tries serverless offline's authorizer override.
 */
export const principalOf = (event: APIGatewayProxyEventV2, auth: AuthConfig): Principal => {
  if (auth.mode === 'none') return { kind: 'anonymous' };
  if (headerOf(event.headers, OFFLINE_OVERRIDE_HEADER) !== undefined) {
    throw new UnauthorizedError(`The ${OFFLINE_OVERRIDE_HEADER} header is not accepted`);
  }
  const context = (
    event.requestContext as { authorizer?: { lambda?: Record<string, unknown> } } | undefined
  )?.authorizer?.lambda;
  if (context?.principal === 'service') return { kind: 'service' };
  if (
    context?.principal === 'user' &&
    typeof context.userId === 'string' &&
    USER_ID.test(context.userId)
  ) {
    return { kind: 'user', userId: context.userId };
  }
  throw new UnauthorizedError(NEEDS_CREDENTIALS);
};
