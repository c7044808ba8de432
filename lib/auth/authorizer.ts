import type { AuthConfig } from '../config.ts';
import { RedisUnavailableError } from '../errors.ts';
import { recordMetric } from '../metrics.ts';
import type { RedisService } from '../redis/service.ts';
import { credentialsOf, isServiceKey } from './credentials.ts';
import { lookUpSession } from './sessions.ts';

/**
 * What the authorizer hands the functions (API Gateway puts it at
 * `event.requestContext.authorizer.lambda`). Strings only: API Gateway's context values are
 * strings, numbers or booleans.
 */
export type AuthorizerContext = { principal: 'user'; userId: string } | { principal: 'service' };

/** Why a request was refused, for the log line (never the credential itself). */
export type DenialReason =
  | 'no-credentials'
  | 'malformed-credentials'
  | 'unknown-session'
  | 'expired-session'
  | 'malformed-session'
  | 'wrong-service-key';

export type AuthorizerDecision =
  | { allowed: true; context: AuthorizerContext }
  | { allowed: false; reason: DenialReason; detail?: string };

export interface AuthorizerDeps {
  config: { auth: AuthConfig };
  redis: Pick<RedisService, 'get'> | undefined;
}

/**
 * Decides one request from its headers: a `Bearer` session that Redis knows and that has not
 * outlived its login is that session's user; a matching `x-api-key` is the service. Anything
 * else is refused. Fail-closed: when Redis cannot answer, this throws and API Gateway answers
 * 500 (offline: 401); no request gets in unverified.
 * @throws RedisUnavailableError / RedisCommandError when the session cannot be looked up.
 */
const decideOnce = async (
  { config, redis }: AuthorizerDeps,
  headers: Record<string, string | undefined> | null | undefined,
): Promise<AuthorizerDecision> => {
  const credentials = credentialsOf(headers);
  switch (credentials.kind) {
    case 'none':
      return { allowed: false, reason: 'no-credentials' };
    case 'malformed':
      return { allowed: false, reason: 'malformed-credentials', detail: credentials.problem };
    case 'service-key':
      return isServiceKey(config.auth.serviceApiKey, credentials.key)
        ? { allowed: true, context: { principal: 'service' } }
        : { allowed: false, reason: 'wrong-service-key' };
    case 'session': {
      if (!redis) {
        throw new RedisUnavailableError(
          'Redis is not configured; sessions cannot be checked (set UPSTASH_REDIS_REST_URL)',
        );
      }
      const session = await lookUpSession(redis, credentials.sessionId);
      if (session.status === 'valid') {
        return { allowed: true, context: { principal: 'user', userId: session.userId } };
      }
      return { allowed: false, reason: `${session.status}-session` };
    }
  }
};

/**
 * The authorizer's decision (decideOnce above), each refusal counted as an AuthorizerDenials
 * metric: a rising count is someone trying credentials, or clients with expired sessions.
 */
export const decide = async (
  deps: AuthorizerDeps,
  headers: Record<string, string | undefined> | null | undefined,
): Promise<AuthorizerDecision> => {
  const decision = await decideOnce(deps, headers);
  if (!decision.allowed) recordMetric('AuthorizerDenials');
  return decision;
};
