import { setTimeout as delay } from 'node:timers/promises';

/**
 * Polls `read` until `accept` says the observed state is the expected one, and returns it.
 * For state that arrives asynchronously through Kafka and a consumer; the interval only paces
 * the questions, it never stands in for readiness.
 * @throws with the last observed value when `timeoutMs` passes.
 */
export const eventually = async <T>(
  read: () => Promise<T>,
  accept: (value: T) => boolean,
  { timeoutMs = 20_000, what = 'the expected state' }: { timeoutMs?: number; what?: string } = {},
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (accept(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(
        `${what} not reached within ${timeoutMs} ms; last seen: ${JSON.stringify(last)}`,
      );
    }
    await delay(100);
  }
};
