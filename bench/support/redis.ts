import { Redis } from '@upstash/redis';

/** A plain @upstash/redis client, one command per HTTP request (no auto-pipelining). */
export const plainRedis = (url: string, token: string): Redis =>
  new Redis({ url, token, enableAutoPipelining: false, retry: false });

/** Deletes every key matching one of `patterns` (SCAN, so Redis is never blocked). */
export const deleteKeysMatching = async (redis: Redis, patterns: string[]): Promise<number> => {
  let deleted = 0;
  for (const match of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, { match, count: 1_000 });
      cursor = String(next);
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  }
  return deleted;
};
