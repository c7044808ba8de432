import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The time budget of the invocation in progress. Lambda kills a function at its timeout; every
 * network call must end before that with room for what has to follow it (the fallback write
 * after a failed Kafka send, then the answer), or the fallback never acts: a broker that hangs
 * instead of refusing would otherwise use the whole timeout.
 *
 * The deadline lives in an AsyncLocalStorage rather than in every signature: the clients that
 * honour it (the Redis client's per-request signal, the Kafka service's send) sit several calls
 * below the handler, and one process can run several invocations at once (serverless offline
 * in process, embedded mode), so a module-level variable would mix them up.
 */

/** Kept back from the Lambda timeout for writing the answer and the invocation's log line. */
export const ANSWER_RESERVE_MS = 300;

const deadlines = new AsyncLocalStorage<number>();

/** The part of the Lambda context the deadline needs. */
export interface RemainingTime {
  getRemainingTimeInMillis(): number;
}

/**
 * Runs `work` with the deadline of the invocation whose `context` it is: the moment Lambda
 * would stop it, less ANSWER_RESERVE_MS. Without a context (a script, a test calling lib/
 * directly) there is no deadline and the clients' own timeouts apply. `uncountedMs`: time the
 * platform already counted against the timeout that the context's remaining time leaves out
 * (see offlineWaitMs in lambda/http.ts); on AWS there is none.
 */
export const withDeadline = <T>(
  context: Partial<RemainingTime> | undefined,
  work: () => Promise<T>,
  { uncountedMs = 0 }: { uncountedMs?: number } = {},
): Promise<T> => {
  const remaining = context?.getRemainingTimeInMillis?.();
  if (remaining === undefined || !Number.isFinite(remaining)) return work();
  return deadlines.run(Date.now() + remaining - uncountedMs - ANSWER_RESERVE_MS, work);
};

/**
 * How long a call may take from now: `limitMs`, cut to what is left of the invocation after
 * `keepMs` for what must still follow it. Never negative; `limitMs` when there is no deadline.
 */
export const budgetMs = (limitMs: number, keepMs = 0): number => {
  const deadline = deadlines.getStore();
  if (deadline === undefined) return limitMs;
  return Math.max(0, Math.min(limitMs, deadline - Date.now() - keepMs));
};

/** Whether the current call runs under an invocation's deadline. */
export const hasDeadline = (): boolean => deadlines.getStore() !== undefined;
