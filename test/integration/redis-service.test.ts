import { afterAll, describe, expect, inject, it } from 'vitest';
import { RedisCommandError, RedisUnavailableError } from '../../lib/errors.ts';
import { classifyRedisError } from '../../lib/redis/errors.ts';
import { CLOSED_URL, inspector, keygen, redisServiceFor } from '../support/redis.ts';

const stack = inject('stack');
const raw = inspector(stack);
const keys = keygen(raw);
afterAll(keys.cleanup);

describe('the Redis service over the Upstash REST API', () => {
  it("stores a string as it is and reads the same string back, as the design's callers use it", async () => {
    const redis = redisServiceFor(stack);
    const key = keys.key('profile');
    const user = { name: 'Asha', visits: 3 };

    await redis.set(key, JSON.stringify(user), { EX: 600 });
    const cached = await redis.get(key);

    expect(cached).toBe('{"name":"Asha","visits":3}');
    expect(JSON.parse(cached ?? '')).toEqual(user);
    const ttl = await raw.ttl(key);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  it('reads back strings that look like other JSON values as the strings they are', async () => {
    const redis = redisServiceFor(stack);
    const stored = ['123', 'null', 'true', '[1]', ' {"a": 1} ', 'ok'];
    const names = stored.map((_, i) => keys.key(`looks-like-json-${i}`));

    for (const [i, value] of stored.entries()) await redis.set(names[i] as string, value);

    expect(await Promise.all(names.map((name) => redis.get(name)))).toEqual(stored);
  });

  it('stores any other value as its JSON text', async () => {
    const redis = redisServiceFor(stack);
    const [object, number] = [keys.key('object'), keys.key('number')];

    await redis.set(object, { theme: 'dark' });
    await redis.set(number, 42);

    expect(await redis.get(object)).toBe('{"theme":"dark"}');
    expect(await redis.get(number)).toBe('42');
    expect(await raw.get(object)).toEqual({ theme: 'dark' }); // the raw client parses JSON
  });

  it('refuses an EX that is not a whole number of seconds above 0, and writes nothing', async () => {
    const redis = redisServiceFor(stack);
    const key = keys.key('bad-ttl');

    for (const EX of [0, -5, 1.5])
      await expect(redis.set(key, 'x', { EX })).rejects.toThrowError(/EX must be a whole number/);

    expect(await raw.exists(key)).toBe(0);
  });

  it('exposes the raw client for lists, sets, counters and pipelines, also as getClient()', async () => {
    const redis = redisServiceFor(stack);
    expect(redis.getClient()).toBe(redis.client);
    const [list, set, counter] = [keys.key('list'), keys.key('set'), keys.key('counter')];

    const results = await redis.client
      .pipeline()
      .lpush(list, 'x', 'y')
      .sadd(set, 'u1', 'u2', 'u1')
      .incrby(counter, 5)
      .exec();

    expect(results).toEqual([2, 2, 5]);
    expect(await redis.client.lrange(list, 0, -1)).toEqual(['y', 'x']);
    expect(await redis.client.multi().incr(counter).scard(set).exec()).toEqual([6, 2]);
  });

  it('reports itself connected with a latency after a successful call', async () => {
    const redis = redisServiceFor(stack);
    expect(redis.isConnected).toBe(false);
    const health = await redis.healthCheck();
    expect(health).toMatchObject({ status: 'connected' });
    expect(health.latencyMs).toBeGreaterThanOrEqual(0);
    expect(redis.isConnected).toBe(true);
  });

  it("runs the design's connection code as it is: isConnected is a property, connect() checks the endpoint", async () => {
    const redis = redisServiceFor(stack);
    const unreachable = redisServiceFor({ ...stack, upstashUrl: CLOSED_URL });

    if (!redis.isConnected) await redis.connect();
    const refused = await unreachable.connect().catch((error: unknown) => error);

    expect(redis.isConnected).toBe(true);
    expect(refused).toBeInstanceOf(RedisUnavailableError);
    expect(unreachable.isConnected).toBe(false);
    await redis.disconnect();
    expect(redis.isConnected).toBe(false);
  });

  it('fails fast with RedisUnavailableError when the endpoint is unreachable', async () => {
    // A long request timeout: failing well inside it shows the refusal was not waited out.
    const requestTimeoutMs = 20_000;
    const redis = redisServiceFor({ ...stack, upstashUrl: CLOSED_URL }, { requestTimeoutMs });
    const started = performance.now();

    await expect(redis.get(keys.key('x'))).rejects.toThrowError(RedisUnavailableError);
    await expect(redis.set(keys.key('x'), 1)).rejects.toThrowError(
      /unreachable.*UPSTASH_REDIS_REST_URL/,
    );

    expect(performance.now() - started).toBeLessThan(requestTimeoutMs / 2);
    expect(redis.isConnected).toBe(false);
    expect(await redis.healthCheck()).toMatchObject({ status: 'disconnected' });
  });

  it('gives up within the request timeout when the endpoint accepts but never answers', async () => {
    const { createServer } = await import('node:net');
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const requestTimeoutMs = 500;
    const redis = redisServiceFor(
      { ...stack, upstashUrl: `http://127.0.0.1:${port}` },
      { requestTimeoutMs },
    );
    const started = performance.now();
    try {
      await expect(redis.get(keys.key('y'))).rejects.toThrowError(RedisUnavailableError);
      // One timeout covers the request and its retry; the client's own default would retry 5
      // times with ~4 s of backoff. Ten times the timeout leaves room for a loaded machine.
      expect(performance.now() - started).toBeLessThan(requestTimeoutMs * 10);
    } finally {
      silent.close();
    }
  });

  it('reports a wrong token as a refusal (RedisCommandError, health "error"), never echoing the token', async () => {
    const redis = redisServiceFor({ ...stack, upstashToken: 'wrong-token-123' });

    const error = await redis.get(keys.key('z')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RedisCommandError);
    expect((error as Error).message).toMatch(/UPSTASH_REDIS_REST_TOKEN/);
    expect((error as Error).message).not.toContain('wrong-token-123');
    expect(await redis.healthCheck()).toMatchObject({ status: 'error' });
  });

  it("keeps the command's arguments (stored values) out of error messages", async () => {
    const key = keys.key('a-string');
    await raw.set(key, 'text');
    const upstashError = await raw.lpush(key, 'secret-value-456').catch((e: unknown) => e);
    expect(String(upstashError)).toContain('secret-value-456'); // what the client itself says

    const error = classifyRedisError(upstashError);

    expect(error).toBeInstanceOf(RedisCommandError);
    expect(error.message).toMatch(/WRONGTYPE/);
    expect(error.message).not.toContain('secret-value-456');
  });
});
