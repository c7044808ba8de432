import { errors } from '@upstash/redis';
import { NaradError, RedisCommandError, RedisUnavailableError } from '../errors.ts';

/**
 * Maps an `@upstash/redis` failure to our error family. Upstash errors end with
 * ", command was: [...]" holding the command's arguments (values, message bodies); that part
 * is cut so nothing a user stored can reach a log line.
 */
export const classifyRedisError = (error: unknown): RedisUnavailableError | RedisCommandError => {
  if (error instanceof RedisUnavailableError || error instanceof RedisCommandError) return error;
  if (error instanceof errors.UpstashError) {
    const reason = error.message.replace(/, command was: [\s\S]*$/, '');
    const hint = /unauthori[sz]ed|WRONGPASS|NOAUTH/i.test(reason)
      ? '; check UPSTASH_REDIS_REST_TOKEN'
      : '';
    return new RedisCommandError(`Redis refused the command: ${reason}${hint}`, { cause: error });
  }
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new RedisUnavailableError(
    `Redis over HTTP is unreachable (${reason}); check UPSTASH_REDIS_REST_URL and that the endpoint is up`,
    { cause: error },
  );
};

/**
 * A failure of the raw @upstash/redis client (used for lists, pipelines) in our error family,
 * or `error` itself when it is none: a refusal stays a 500 with a safe message, an unreachable
 * endpoint (a timeout, an abort, "fetch failed") becomes a 503. Our own errors pass unchanged.
 */
export const classifyUpstashFailure = (error: unknown): unknown => {
  if (error instanceof NaradError) return error;
  const { name, message } = error instanceof Error ? error : { name: '', message: '' };
  const isRedis =
    error instanceof errors.UpstashError ||
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    message === 'fetch failed';
  return isRedis ? classifyRedisError(error) : error;
};
