import type { Context } from 'aws-lambda';
import { withDeadline } from '../deadline.ts';
import { loggableError, logger } from '../log.ts';
import { withMetrics } from '../metrics.ts';

export type LogFields = Record<string, unknown>;

/** How an invocation ended, as its log line tells it. */
export interface InvocationOutcome {
  level: 'info' | 'warn' | 'error';
  fields: LogFields;
  /** Attached to the line under `error`: an Error with its stack, or a brief `{name, message}`. */
  error?: unknown;
}

export interface InvocationLogOptions {
  /** The Lambda context, when the runtime passed one: adds function_name, function_request_id... */
  context?: Context | undefined;
  /**
   * On every line logged during the invocation (kafkajs's too): the function (also the
   * `function` dimension of its metrics), correlation id(s).
   */
  keys: LogFields & { function: string };
  /** Only on the invocation line, before the outcome: the route, the batch. */
  fields?: LogFields;
  /** Time already counted against the timeout that the context leaves out (deadline.ts). */
  uncountedMs?: number;
}

// Module state lives as long as the container: only its first invocation is a cold start.
// Provisioned concurrency initialises containers ahead of any request: none of those is one.
let coldStart = process.env.AWS_LAMBDA_INITIALIZATION_TYPE !== 'provisioned-concurrency';

const takeColdStart = (): boolean => {
  const cold = coldStart;
  coldStart = false;
  return cold;
};

/**
 * Runs one invocation and writes exactly one `invocation` line for it: the keys and fields, the
 * outcome `outcomeOf` reads from the result, `duration_ms` and `cold_start`. A throw becomes an
 * error-level line carrying the error, and is rethrown. The keys are removed from the logger
 * afterwards, so nothing leaks into the next invocation of the container. `run` works under the
 * invocation's deadline (deadline.ts), so its network calls end before Lambda's timeout, and
 * with metrics of its own (metrics.ts), written once when it ends.
 */
export const withInvocationLog = async <R>(
  { context, keys, fields = {}, uncountedMs = 0 }: InvocationLogOptions,
  run: () => Promise<R>,
  outcomeOf: (result: R) => InvocationOutcome,
): Promise<R> => {
  const started = performance.now();
  const invocationKeys = { ...keys, cold_start: takeColdStart() };
  if (context?.awsRequestId) logger.addContext(context);
  logger.appendKeys(invocationKeys);
  const write = ({ level, fields: outcome, error }: InvocationOutcome) =>
    logger[level](
      {
        message: 'invocation',
        // Repeated here, not only inherited from the keys: the line stays right even if another
        // invocation in the same process (embedded mode, tests) changed the logger's keys.
        ...invocationKeys,
        ...fields,
        ...outcome,
        duration_ms: Math.round(performance.now() - started),
      },
      error === undefined ? {} : { error },
    );
  return withMetrics(keys.function, async () => {
    try {
      const result = await withDeadline(context, run, { uncountedMs });
      write(outcomeOf(result));
      return result;
    } catch (thrown) {
      write({ level: 'error', fields: { outcome: 'threw' }, error: loggableError(thrown) });
      throw thrown;
    } finally {
      logger.removeKeys(Object.keys(invocationKeys));
    }
  });
};

/**
 * A handler for events that are neither HTTP nor Kafka (the schedule): one `invocation` line
 * with `fieldsOf(result)`, an error line when it throws.
 */
export const scheduledHandler =
  <E, R>(name: string, handle: (event: E) => Promise<R>, fieldsOf: (result: R) => LogFields) =>
  (event: E, context?: Context): Promise<R> =>
    withInvocationLog(
      { context, keys: { function: name } },
      () => handle(event),
      (result) => ({
        level: 'info',
        fields: fieldsOf(result),
      }),
    );
