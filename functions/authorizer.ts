import type {
  APIGatewayRequestAuthorizerEventV2,
  APIGatewaySimpleAuthorizerWithContextResult,
  Context,
} from 'aws-lambda';
import { type AuthorizerContext, type AuthorizerDecision, decide } from '../lib/auth/authorizer.ts';
import { correlationIdOf } from '../lib/lambda/correlation-id.ts';
import { withInvocationLog } from '../lib/lambda/invocation-log.ts';
import { getStateServices } from '../lib/state-services.ts';

/**
 * The HTTP API's Lambda authorizer (request type, payload 2.0, simple responses): a known
 * session becomes `{principal: 'user', userId}`, the service API key `{principal: 'service'}`,
 * both at `event.requestContext.authorizer.lambda` of the function behind the route. A refusal
 * throws "Unauthorized", which API Gateway answers with 401 (a `false` would be a 403); a Redis
 * failure throws anything else: 500, never a request let in unverified. One log line per call,
 * with the outcome and reason, never the credential.
 */
export const handler = async (
  event: APIGatewayRequestAuthorizerEventV2,
  context?: Context,
): Promise<APIGatewaySimpleAuthorizerWithContextResult<AuthorizerContext>> => {
  const correlationId = correlationIdOf(event);
  const decision = await withInvocationLog<AuthorizerDecision>(
    {
      context,
      keys: { function: 'authorizer', correlation_id: correlationId },
      fields: { route: event.routeKey },
    },
    () => decide(getStateServices(), event.headers),
    (outcome) => ({
      level: 'info',
      fields: outcome.allowed
        ? {
            outcome: 'allowed',
            principal: outcome.context.principal,
            ...(outcome.context.principal === 'user' ? { user_id: outcome.context.userId } : {}),
          }
        : {
            outcome: 'denied',
            reason: outcome.reason,
            ...(outcome.detail ? { detail: outcome.detail } : {}),
          },
    }),
  );
  if (!decision.allowed) throw new Error('Unauthorized');
  return { isAuthorized: true, context: decision.context };
};
