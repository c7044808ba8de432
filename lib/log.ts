import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';

export const SERVICE_NAME = 'narad-services';

/**
 * Keys whose values never reach the logs, at any depth of a logged object. A session id is a
 * bearer credential (Authorization: Bearer <session id>), so it counts as one.
 */
const SECRET_KEY =
  /authorization|token|password|passwd|secret|api[-_]?key|cookie|credential|session[-_]?id/i;

export const REDACTED = '[REDACTED]';

/** The logger's JSON replacer: the value of a key that names a secret is replaced by `[REDACTED]`. */
export const redactSecrets = (key: string, value: unknown): unknown =>
  key !== '' && value !== undefined && value !== null && SECRET_KEY.test(key) ? REDACTED : value;

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'] as const;

/**
 * The log level from `POWERTOOLS_LOG_LEVEL`, else `LOG_LEVEL` (any case); INFO when neither
 * names a level. (Powertools reads the same variables but only in upper case.) Lambda's own
 * log-level control (`AWS_LAMBDA_LOG_LEVEL`) still wins over both, as Powertools documents.
 */
export const logLevelFrom = (env: NodeJS.ProcessEnv = process.env): LogLevel => {
  const wanted = (env.POWERTOOLS_LOG_LEVEL || env.LOG_LEVEL || '').trim().toUpperCase();
  return LEVELS.find((level) => level === wanted) ?? 'INFO';
};

/**
 * Powertools' Logger, except under `serverless invoke local` (IS_LOCAL=true), where every line
 * goes to stderr: there stdout carries the handler's result, which people and tests pipe into
 * a JSON parser. Elsewhere (Lambda, serverless offline) lines go where Powertools puts them:
 * debug and info to stdout, warn and error to stderr, both to CloudWatch in Lambda.
 */
class NaradLogger extends Logger {
  protected override printLog(logLevel: number, log: LogItem): void {
    // Read on each line, not kept in a field: the base constructor may print before fields exist.
    if (process.env.IS_LOCAL !== 'true') {
      super.printLog(logLevel, log);
      return;
    }
    log.prepareForPrint();
    process.stderr.write(`${JSON.stringify(log.getAttributes(), this.getJsonReplacer())}\n`);
  }
}

/**
 * The one logger of a Lambda container: one JSON object per line, with the service name, the
 * Lambda context once a wrapper added it, and secrets redacted.
 */
export const logger: Logger = new NaradLogger({
  serviceName: SERVICE_NAME,
  logLevel: logLevelFrom(),
  jsonReplacerFn: redactSecrets,
});

/**
 * A thrown value in a form the logger formats: an Error as it is (name, message, location,
 * stack, cause), anything else as its string.
 */
export const loggableError = (thrown: unknown): Error | { name: string; message: string } =>
  thrown instanceof Error ? thrown : { name: typeof thrown, message: String(thrown) };

/** Only the name and the message of a thrown value: for expected failures, without a stack. */
export const briefError = (thrown: unknown): { name: string; message: string } =>
  thrown instanceof Error
    ? { name: thrown.name, message: thrown.message }
    : { name: typeof thrown, message: String(thrown) };
