import type { Redis } from '@upstash/redis';

export type RedisHealth =
  | { status: 'connected'; latencyMs: number }
  | { status: 'disconnected' | 'error'; latencyMs: number; error: string };

const isNetworkFailure = (error: unknown) =>
  error instanceof Error &&
  /fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|timeout|aborted/i.test(
    `${error.name} ${error.message} ${String((error as { cause?: unknown }).cause ?? '')}`,
  );

/**
 * One PING round trip. `disconnected` means the endpoint could not be reached in time;
 * `error` means it answered but refused (a wrong token, for example).
 */
export const checkRedis = async (redis: Redis): Promise<RedisHealth> => {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    await redis.ping();
    return { status: 'connected', latencyMs: elapsed() };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      status: isNetworkFailure(error) ? 'disconnected' : 'error',
      latencyMs: elapsed(),
      error: message,
    };
  }
};
