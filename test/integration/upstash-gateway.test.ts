/**
 * The local Upstash gateway, specified through the real `@upstash/redis` client against a real
 * redis-server: everything the client does against Upstash must work the same here.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis, type RedisConfigNodejs } from '@upstash/redis';
import fc from 'fast-check';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startUpstashGateway, type UpstashGateway } from '../../local/upstash-gateway/server.ts';
import { eventually } from '../support/wait.ts';

/** What `redis.subscribe()` / `psubscribe()` return (the package does not export the class). */
type Subscriber = ReturnType<Redis['subscribe']>;

// The tests' own redis-server (test/support/test-stack.ts); this file starts gateways on it.
const REDIS_URL = inject('stack').redisUrl;
const TOKEN = `test-token-${randomUUID()}`;
const TWO_POW_53 = 2 ** 53;

let gateway: UpstashGateway;
let direct: IORedis;

// Each test makes its own keys under a random prefix, so runs never see each other's data.
const keyPrefix = `narad-test:upstash-gateway:${randomUUID()}:`;
const createdKeys: string[] = [];
const keygen = (): string => {
  const key = `${keyPrefix}${createdKeys.length}`;
  createdKeys.push(key);
  return key;
};

/** The real client, as application code would build it, pointed at the gateway. */
const client = (options: Partial<RedisConfigNodejs> = {}): Redis =>
  new Redis({ url: gateway.url, token: TOKEN, retry: false, ...options });

/** A raw request, for what the client hides (headers, status codes, exact JSON text). */
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

interface Stats {
  requests: { total: number; '/': number; '/pipeline': number; '/multi-exec': number };
  commands: number;
}

const readStats = async (): Promise<Stats> => {
  const response = await fetch(`${gateway.url}/__narad/stats`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Stats;
};

const resetStats = async (): Promise<void> => {
  const response = await post('/__narad/stats/reset', '');
  expect(response.status).toBe(200);
};

/** A port nothing listens on: bind an ephemeral one, then let it go. */
const closedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });

beforeAll(async () => {
  gateway = await startUpstashGateway({ redisUrl: REDIS_URL, token: TOKEN, port: 0 });
  direct = new IORedis(REDIS_URL);
});

afterAll(async () => {
  if (createdKeys.length > 0) await direct.del(...createdKeys);
  direct.disconnect();
  await gateway.close();
});

describe('readiness and authentication', () => {
  it('answers GET / with 200 without a token, and says nothing secret', async () => {
    const response = await fetch(`${gateway.url}/`);
    const text = await response.text();

    expect(response.status).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ status: 'ok', redis: 'reachable' });
    expect(text).not.toContain(TOKEN);
  });

  it('rejects a wrong token: the client throws an unauthorized (401) error', async () => {
    const intruder = new Redis({ url: gateway.url, token: 'not-the-token', retry: false });

    await expect(intruder.get(keygen())).rejects.toThrow(/unauthorized|401/i);
  });

  it('never echoes the token in an error', async () => {
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}x` },
      body: '["GET","k"]',
    });

    expect(response.status).toBe(401);
    expect(await response.text()).not.toContain(TOKEN);
  });
});

describe('values round-trip through the real client', () => {
  const encodings: [string, Partial<RedisConfigNodejs>][] = [
    ['base64 responses (client default)', {}],
    ['plain UTF-8 responses (responseEncoding: false)', { responseEncoding: false }],
  ];

  it.each(encodings)(
    'keeps emoji, accents and binary-looking strings unchanged with %s',
    async (_, options) => {
      const redis = client(options);
      const values = [
        'héllo wörld 👋🏽 世界 🇮🇳',
        'T0s=', // base64 of "OK"
        'dmFsdWU=', // base64 of "value"
        '\u0000\u0001\u007f\u00ff',
        '\\u0000 "quoted" \n\t',
        '',
        ' ',
      ];

      for (const value of values) {
        const key = keygen();
        expect(await redis.set(key, value)).toBe('OK');
        expect(await redis.get(key)).toBe(value);
      }
    },
  );

  it.each(encodings)('reads "OK" stored as a value back as "OK" with %s', async (_, options) => {
    const redis = client(options);
    const key = keygen();

    await redis.set(key, 'OK');

    expect(await redis.get(key)).toBe('OK');
    expect(await direct.get(key)).toBe('OK');
  });

  it('sends the SET reply "OK" unencoded under base64, as Upstash does (the client skips decoding only that)', async () => {
    const key = keygen();

    const set = await post('/', ['SET', key, 'v'], { 'upstash-encoding': 'base64' });
    const get = await post('/', ['GET', key], { 'upstash-encoding': 'base64' });

    expect(await set.json()).toEqual({ result: 'OK' });
    expect(await get.json()).toEqual({ result: Buffer.from('v').toString('base64') });
  });

  it('delivers binary values byte-exact as base64 of the raw bytes', async () => {
    const key = keygen();
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0d, 0x0a, 0xc3]); // not valid UTF-8
    await direct.set(key, bytes);

    const response = await post('/', ['GET', key], { 'upstash-encoding': 'base64' });
    const { result } = (await response.json()) as { result: string };

    expect(Buffer.from(result, 'base64').equals(bytes)).toBe(true);
  });

  it('sends every digit of integers beyond 2^53; the client rounds INCRBY results and keeps GET exact', async () => {
    const key = keygen();
    await direct.set(key, String(TWO_POW_53 - 1)); // 9007199254740991

    // Raw JSON text: the gateway writes the exact 64-bit integer, as Upstash does.
    const raw = await post('/', ['INCRBY', key, 2]);
    expect(await raw.text()).toBe('{"result":9007199254740993}');

    // The client parses the body with JSON.parse (pkg/http.ts), so the number is rounded ...
    const redis = client();
    const incremented = await redis.incrby(key, 2);
    expect(incremented).toBe(Number('9007199254740995'));
    expect(await direct.get(key)).toBe('9007199254740995');
    // ... while GET returns a string, and parseResponse (pkg/util.ts) keeps an unsafe integer
    // as that exact string instead of a rounded number.
    expect(await redis.get(key)).toBe('9007199254740995');
  });

  it('lets the client (de)serialize numbers and JSON objects, with RESP2 arrays on the wire', async () => {
    const redis = client();
    const numberKey = keygen();
    const objectKey = keygen();
    const hashKey = keygen();
    const order = { orderId: 'o-1', items: [{ sku: 'a', qty: 2 }], total: 12.5, paid: true };

    await redis.set(numberKey, 42);
    await redis.set(objectKey, order);
    await redis.hset(hashKey, { name: 'Asha', visits: 3 });

    expect(await redis.get<number>(numberKey)).toBe(42);
    expect(await redis.get<typeof order>(objectKey)).toEqual(order);
    expect(await direct.get(objectKey)).toBe(JSON.stringify(order));
    expect(await redis.hgetall(hashKey)).toEqual({ name: 'Asha', visits: 3 });
    const raw = await post('/', ['HGETALL', hashKey]);
    expect(await raw.json()).toEqual({ result: ['name', 'Asha', 'visits', '3'] });
  });

  it('round-trips arbitrary unicode strings through set/get (property)', async () => {
    // Automatic deserialization would turn "1" into 1; this property is about the transport.
    const clients = [
      client({ automaticDeserialization: false }),
      client({ automaticDeserialization: false, responseEncoding: false }),
    ];

    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'binary', maxLength: 64 }),
        fc.nat(1),
        async (value, pick) => {
          const redis = clients[pick] as Redis;
          const key = keygen();
          await redis.set(key, value);
          expect(await redis.get(key)).toBe(value);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('pipelines and transactions', () => {
  it('reports the failing command of a pipeline with keepErrors and the results of the others', async () => {
    const redis = client();
    const key = keygen();

    const results = await redis
      .pipeline()
      .set(key, 'text')
      .incr(key)
      .get(key)
      .exec({ keepErrors: true });

    expect(results).toEqual([
      { result: 'OK', error: undefined },
      { result: undefined, error: 'ERR value is not an integer or out of range' },
      { result: 'text', error: undefined },
    ]);
  });

  it('runs multi().exec() as one transaction and returns each result', async () => {
    const redis = client();
    const counter = keygen();
    const list = keygen();

    const results = await redis.multi().set(counter, 1).incr(counter).lpush(list, 'a', 'b').exec();

    expect(results).toEqual(['OK', 2, 2]);
    expect(await direct.lrange(list, 0, -1)).toEqual(['b', 'a']);
  });

  it('discards a transaction with a queued wrong-arity command: non-2xx, nothing written', async () => {
    const redis = client();
    const written = keygen();
    const hash = keygen();

    // hset with no fields sends ["hset", key]: wrong arity, rejected while queueing -> EXECABORT.
    const transaction = redis.multi().set(written, 'must not stay').hset(hash, {});

    await expect(transaction.exec()).rejects.toThrow(/EXECABORT/);
    expect(await direct.exists(written)).toBe(0);
    const raw = await post('/multi-exec', [['SET', written, 'x'], ['GET']]);
    expect(raw.ok).toBe(false);
    expect(raw.status).toBe(400);
    expect(await raw.json()).toEqual({
      error: expect.stringMatching(/^EXECABORT .*wrong number of arguments/),
    });
    expect(await direct.exists(written)).toBe(0);
  });
});

describe('auto-pipelining', () => {
  it('is on by default: 100 concurrent commands travel in a few /pipeline requests', async () => {
    const redis = client();
    const keys = Array.from({ length: 100 }, keygen);
    await resetStats();

    const replies = await Promise.all(keys.map((key, index) => redis.set(key, index)));
    const values = await Promise.all(keys.map((key) => redis.get<number>(key)));

    expect(replies).toEqual(keys.map(() => 'OK'));
    expect(values).toEqual(keys.map((_, index) => index));
    const stats = await readStats();
    expect(stats.commands).toBe(200);
    expect(stats.requests['/pipeline']).toBeGreaterThanOrEqual(2);
    expect(stats.requests.total).toBeLessThanOrEqual(10);
  });

  it('off (enableAutoPipelining: false): every command is its own POST /', async () => {
    const redis = client({ enableAutoPipelining: false });
    const keys = Array.from({ length: 100 }, keygen);
    await resetStats();

    const replies = await Promise.all(keys.map((key) => redis.incr(key)));

    expect(replies).toEqual(keys.map(() => 1));
    const stats = await readStats();
    expect(stats.requests).toEqual({ total: 100, '/': 100, '/pipeline': 0, '/multi-exec': 0 });
    expect(stats.commands).toBe(100);
  });
});

describe('protocol details', () => {
  it('base64-encodes strings at every depth with Upstash-Encoding: base64, and sends UTF-8 without it', async () => {
    const key = keygen();
    await direct.rpush(key, 'é', '👋');
    const b64 = (text: string) => Buffer.from(text).toString('base64');

    const encoded = await post('/', ['LRANGE', key, 0, -1], { 'upstash-encoding': 'base64' });
    const plain = await post('/', ['LRANGE', key, 0, -1]);

    expect(await encoded.json()).toEqual({ result: [b64('é'), b64('👋')] });
    expect(await plain.json()).toEqual({ result: ['é', '👋'] });
  });

  it('changes the upstash-sync-token header on every response', async () => {
    const first = await post('/', ['PING']);
    const second = await post('/', ['PING']);

    const firstToken = first.headers.get('upstash-sync-token');
    const secondToken = second.headers.get('upstash-sync-token');
    expect(firstToken).toBeTruthy();
    expect(secondToken).toBeTruthy();
    expect(secondToken).not.toBe(firstToken);
  });

  it('counts a pipeline as one request carrying N commands', async () => {
    const redis = client();
    const key = keygen();
    await resetStats();

    await redis.pipeline().set(key, 1).incr(key).incr(key).get(key).del(key).exec();

    expect(await readStats()).toEqual({
      requests: { total: 1, '/': 0, '/pipeline': 1, '/multi-exec': 0 },
      commands: 5,
    });
  });

  it.each([
    ['not JSON', '/', '["SET", "k"', /not valid JSON/],
    ['an empty body', '/', '', /empty/],
    ['an object instead of a command array', '/', '{"command":"GET"}', /non-empty JSON array/],
    ['an empty command', '/', '[]', /non-empty JSON array/],
    ['a nested object argument', '/', '["SET","k",{"a":1}]', /element 3 is object/],
    ['a null argument', '/', '["SET","k",null]', /element 3 is null/],
    ['a pipeline that is not a list of commands', '/pipeline', '["GET","k"]', /command 1 must be/],
    ['an empty transaction', '/multi-exec', '[]', /non-empty JSON array/],
  ])('answers %s with 400 and a clear error', async (_, path, body, message) => {
    const response = await post(path, body);

    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(message);
  });

  it('answers a body over 10 MiB with 413', async () => {
    const response = await post('/', ['SET', keygen(), 'x'.repeat(10 * 1024 * 1024 + 1)]);

    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: string }).error).toMatch(
      /larger than 10485760 bytes/,
    );
  });

  it('runs a blocking command on its own connection, so other requests do not wait behind it', async () => {
    const list = keygen();
    const answered: string[] = [];

    const blocked = post('/', ['BLPOP', list, 30]).then((response) => {
      answered.push('BLPOP');
      return response;
    });
    // Only once Redis holds the BLPOP blocked does the PING show anything.
    await eventually(
      async () => String(await direct.client('LIST')),
      (clients) => clients.includes('cmd=blpop'),
      { what: 'the BLPOP blocked in Redis' },
    );
    const ping = await post('/', ['PING']);
    answered.push('PING');
    await post('/', ['LPUSH', list, 'wake']);

    expect(await ping.json()).toEqual({ result: 'PONG' });
    expect(await (await blocked).json()).toEqual({ result: [list, 'wake'] });
    expect(answered).toEqual(['PING', 'BLPOP']);
  });

  it('answers 503 at once, naming the address, when Redis is unreachable', async () => {
    const port = await closedPort();
    const orphan = await startUpstashGateway({
      redisUrl: `redis://127.0.0.1:${port}`,
      token: TOKEN,
      port: 0,
    });
    try {
      const started = performance.now();
      const response = await fetch(orphan.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: '["GET","k"]',
      });
      const elapsedMs = performance.now() - started;

      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: string }).error).toMatch(
        new RegExp(`^redis unreachable at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
      );
      // At once: no reconnect loop waited out (ioredis's own would retry for seconds).
      expect(elapsedMs).toBeLessThan(3_000);
      const redis = new Redis({ url: orphan.url, token: TOKEN, retry: false });
      await expect(redis.get('k')).rejects.toThrow(/redis unreachable/);
    } finally {
      await orphan.close();
    }
  });
});

describe("Upstash's script flags", () => {
  /** A script text no earlier run sent, so Redis's script cache cannot answer for it. */
  const fresh = (body: string) => `#!lua flags=allow-key-locking\n-- ${randomUUID()}\n${body}`;
  const sha1 = (text: string) => createHash('sha1').update(text, 'utf8').digest('hex');

  it('runs a script declaring allow-key-locking, which Redis 7.0 alone refuses', async () => {
    const redis = client();
    const key = keygen();
    const script = fresh("return redis.call('INCRBY', KEYS[1], ARGV[1])");

    await expect(direct.eval(script, 1, key, 5)).rejects.toThrow(
      /Unexpected flag in script shebang: allow-key-locking/,
    );
    expect(await redis.eval(script, [key], [5])).toBe(5);
    expect(await direct.get(key)).toBe('5');
  });

  it('keeps the flags Redis knows: a no-writes,allow-key-locking script runs with EVAL_RO and may not write', async () => {
    const redis = client();
    const key = keygen();
    await direct.set(key, 'read me');
    const reader = "#!lua flags=no-writes,allow-key-locking\nreturn redis.call('GET', KEYS[1])";
    const writer =
      "#!lua flags=no-writes,allow-key-locking\nreturn redis.call('SET', KEYS[1], 'x')";

    expect(await redis.evalRo(reader, [key], [])).toBe('read me');
    await expect(redis.eval(writer, [key], [])).rejects.toThrow(/Write commands are not allowed/);
    expect(await direct.get(key)).toBe('read me');
  });

  it("refuses a key the script did not pass in KEYS, with Upstash's error, before touching it", async () => {
    const redis = client();
    const [declared, undeclared] = [keygen(), keygen()];
    // The key is built inside the script, as a careless script would.
    const script = fresh(
      "redis.call('SET', 'narad-test:' .. ARGV[1], 'x')\nreturn redis.call('SET', KEYS[1], 'y')",
    );
    const suffix = undeclared.slice('narad-test:'.length);

    await expect(redis.eval(script, [declared], [suffix])).rejects.toThrow(
      `ERR Dynamic keys are not allowed in Lua scripts when 'allow-key-locking' flag is set. Key was: ${undeclared}`,
    );
    expect(await direct.exists(declared, undeclared)).toBe(0);
  });

  it('hands redis.pcall the refusal as an error reply, and refuses FLUSHDB inside the script', async () => {
    const redis = client();
    const [declared, undeclared] = [keygen(), keygen()];
    const pcall = fresh(
      "local reply = redis.pcall('GET', ARGV[1])\nreturn reply['err'] or 'not refused'",
    );
    const flush = fresh("return redis.call('FLUSHDB')");
    await direct.set(declared, 'kept');

    expect(await redis.eval(pcall, [declared], [undeclared])).toMatch(/^ERR Dynamic keys/);
    await expect(redis.eval(flush, [declared], [])).rejects.toThrow(
      /'flushdb' is not allowed in Lua scripts when 'allow-key-locking' flag is set/,
    );
    expect(await direct.get(declared)).toBe('kept');
  });

  it('holds only flagged scripts to the rule: without the flag a key outside KEYS is fine, as on Upstash', async () => {
    const redis = client();
    const outside = keygen();

    expect(await redis.eval("return redis.call('SET', ARGV[1], 'v')", [], [outside])).toBe('OK');
    expect(await direct.get(outside)).toBe('v');
  });

  it("finds the rewritten script by the client's SHA1: Script.exec() sends EVAL once, then EVALSHA alone", async () => {
    const redis = client({ enableAutoPipelining: false });
    const key = keygen();
    const script = redis.createScript<number>(fresh("return redis.call('INCR', KEYS[1])"));
    await resetStats();

    expect(await script.exec([key], [])).toBe(1); // EVALSHA -> NOSCRIPT, then EVAL
    const afterFirst = await readStats();
    expect(await script.exec([key], [])).toBe(2); // EVALSHA with the client's SHA1 runs it
    const afterSecond = await readStats();

    expect(afterFirst.requests['/']).toBe(2);
    expect(afterSecond.requests['/'] - afterFirst.requests['/']).toBe(1);
    expect(await redis.scriptExists(script.sha1)).toEqual([1]);
  });

  it("answers SCRIPT LOAD with the client's SHA1, which EVALSHA, pipelines and transactions then run", async () => {
    const redis = client();
    const key = keygen();
    const text = fresh("return redis.call('INCRBY', KEYS[1], ARGV[1])");

    const loaded = await redis.scriptLoad(text);
    const alone = await redis.evalsha(loaded, [key], [1]);
    const piped = await redis.pipeline().evalsha(loaded, [key], [2]).eval(text, [key], [3]).exec();
    const transacted = await redis.multi().evalsha(loaded, [key], [4]).exec();

    expect(loaded).toBe(sha1(text));
    expect(alone).toBe(1);
    expect(piped).toEqual([3, 6]);
    expect(transacted).toEqual([10]);
  });
});

describe('commands the gateway refuses', () => {
  const refused: Array<[string, Array<string | number>]> = [
    ['flushall', ['FLUSHALL']],
    ['flushdb', ['FLUSHDB']],
    ['config set', ['CONFIG', 'SET', 'maxmemory', '1mb']],
    ['debug', ['DEBUG', 'SLEEP', 2]],
    ['client pause', ['CLIENT', 'PAUSE', 2000]],
    ['client kill', ['CLIENT', 'KILL', 'TYPE', 'normal']],
    ['module', ['MODULE', 'LOAD', '/nonexistent/module.so']],
    ['replicaof', ['REPLICAOF', '127.0.0.1', 1]],
    ['shutdown', ['SHUTDOWN', 'NOSAVE']],
    ['bgsave', ['BGSAVE']],
    ['acl setuser', ['ACL', 'SETUSER', 'default', 'off']],
    ['swapdb', ['SWAPDB', 0, 1]],
  ];

  it.each(refused)(
    'answers %s with 400 and an error naming it, and sends nothing to Redis',
    async (shown, command) => {
      await resetStats();

      const response = await post('/', command);

      expect(response.status).toBe(400);
      const { error } = (await response.json()) as { error: string };
      expect(error).toMatch(
        new RegExp(`^ERR command '${shown}' is not supported by the local Upstash gateway: \\S`),
      );
      expect((await readStats()).commands).toBe(0);
    },
  );

  it('leaves Redis as it was: keys, configuration, connections and role all unchanged', async () => {
    const sentinel = keygen();
    await direct.set(sentinel, 'still here');
    const maxmemory = await direct.config('GET', 'maxmemory');
    const role = await direct.role();

    for (const [, command] of refused) await post('/', command);

    expect(await direct.get(sentinel)).toBe('still here');
    expect(await direct.config('GET', 'maxmemory')).toEqual(maxmemory);
    expect(await direct.role()).toEqual(role);
    expect(await direct.ping()).toBe('PONG');
  });

  it('the real client gets the refusal as an error; a pipeline keeps the other results; a transaction runs nothing', async () => {
    const redis = client();
    const key = keygen();

    await expect(redis.flushall()).rejects.toThrow(/command 'flushall' is not supported/);
    const piped = await redis
      .pipeline()
      .set(key, 'a')
      .flushdb()
      .get(key)
      .exec({ keepErrors: true });
    await expect(redis.multi().set(key, 'b').flushall().exec()).rejects.toThrow(
      /command 'flushall' is not supported.*the transaction was not run/,
    );

    expect(piped.map(({ error }) => error)).toEqual([
      undefined,
      expect.stringMatching(/^ERR command 'flushdb' is not supported/),
      undefined,
    ]);
    expect(await direct.get(key)).toBe('a');
  });

  it('lets through what Upstash allows of CONFIG and CLIENT: CONFIG GET, CONFIG SET notify-keyspace-events, CLIENT LIST', async () => {
    const [, events] = (await direct.config('GET', 'notify-keyspace-events')) as [string, string];

    const set = await post('/', ['CONFIG', 'SET', 'notify-keyspace-events', events]);
    const get = await post('/', ['CONFIG', 'GET', 'notify-keyspace-events']);
    const list = await post('/', ['CLIENT', 'LIST']);

    expect(await set.json()).toEqual({ result: 'OK' });
    expect(await get.json()).toEqual({ result: ['notify-keyspace-events', events] });
    expect(list.status).toBe(200);
  });
});

describe('where the gateway listens', () => {
  it('refuses to start on a non-loopback interface with the development token, before binding anything', async () => {
    await expect(
      startUpstashGateway({
        redisUrl: REDIS_URL,
        token: 'narad-local-token',
        port: 0,
        host: '0.0.0.0',
      }),
    ).rejects.toThrow(/^refusing to listen on 0\.0\.0\.0, .*public development token/);
  });

  it('npm run gateway exits with the reason when UPSTASH_GATEWAY_HOST is not loopback and the token is the default', async () => {
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '../../local/upstash-gateway/main.ts')],
      {
        env: {
          ...process.env,
          UPSTASH_GATEWAY_HOST: '0.0.0.0',
          UPSTASH_GATEWAY_PORT: '0',
          UPSTASH_REDIS_REST_TOKEN: 'narad-local-token',
          REDIS_URL,
        },
        encoding: 'utf8',
        timeout: 20_000,
      },
    );

    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      /^upstash-gateway: cannot start: refusing to listen on 0\.0\.0\.0, .*set UPSTASH_REDIS_REST_TOKEN to a secret/m,
    );
    expect(run.stdout).not.toMatch(/listening/);
  });
});

describe('pub/sub over server-sent events', () => {
  /** A channel name no other run uses. */
  const channelName = (name: string) => `${keyPrefix}channel:${name}`;

  /** Resolves with the count of the first `subscribe` / `psubscribe` event of `subscriber`. */
  const subscribed = (subscriber: Subscriber, kind: 'subscribe' | 'psubscribe' = 'subscribe') =>
    new Promise<number>((resolve) => subscriber.on(kind, (count: number) => resolve(count)));

  /** What Redis itself reports: subscribers of each channel (PUBSUB NUMSUB). */
  const subscribersOf = async (...channels: string[]): Promise<number[]> => {
    const reply = (await direct.pubsub('NUMSUB', ...channels)) as Array<string | number>;
    return channels.map((_, index) => Number(reply[2 * index + 1]));
  };

  it('delivers published messages to redis.subscribe() in order, objects and text alike', async () => {
    const channel = channelName('orders');
    const subscriber = client().subscribe([channel]);
    const received: unknown[] = [];
    subscriber.on('message', ({ channel: from, message }) => received.push({ from, message }));
    const publisher = client();
    const messages = [
      { orderId: 'o-1', total: 12.5 },
      'plain text, with commas, and ünïcödé 👋',
      42,
      { orderId: 'o-2', items: [{ sku: 'a', qty: 2 }] },
    ];

    expect(await subscribed(subscriber)).toBe(1);
    for (const message of messages) expect(await publisher.publish(channel, message)).toBe(1);
    await eventually(
      async () => received.length,
      (count) => count >= messages.length,
      { what: 'every published message' },
    );

    expect(received).toEqual(messages.map((message) => ({ from: channel, message })));
    await subscriber.unsubscribe();
  });

  it('gives each subscription a Redis connection of its own, released when the client unsubscribes', async () => {
    const channel = channelName('shared');
    const first = client().subscribe([channel]);
    const second = client().subscribe([channel]);

    // Each subscription is its own SUBSCRIBE, so each counts 1, as on Upstash.
    expect(await Promise.all([subscribed(first), subscribed(second)])).toEqual([1, 1]);
    expect(await subscribersOf(channel)).toEqual([2]);
    const clients = await direct.client('LIST');
    expect(
      String(clients).match(/name=upstash-gateway-subscriber /g)?.length,
    ).toBeGreaterThanOrEqual(2);

    await first.unsubscribe();
    await eventually(
      () => subscribersOf(channel),
      ([count]) => count === 1,
      {
        what: 'one subscriber left on the Redis side',
      },
    );
    await second.unsubscribe();
    await eventually(
      () => subscribersOf(channel),
      ([count]) => count === 0,
      {
        what: 'no subscriber left on the Redis side',
      },
    );
  });

  it('subscribes to several channels, and unsubscribing from one leaves the other', async () => {
    const [news, sport] = [channelName('news'), channelName('sport')];
    const subscriber = client().subscribe([news, sport]);
    const received: Array<[string, unknown]> = [];
    subscriber.on('message', ({ channel, message }) => received.push([channel, message]));
    const counts: number[] = [];
    await new Promise<void>((resolve) =>
      subscriber.on('subscribe', (count: number) => {
        counts.push(count);
        if (counts.length === 2) resolve();
      }),
    );
    const publisher = client();

    await publisher.publish(news, { n: 1 });
    await publisher.publish(sport, { s: 1 });
    await eventually(
      async () => received.length,
      (count) => count === 2,
    );
    await subscriber.unsubscribe([news]);
    await eventually(
      () => subscribersOf(news, sport),
      ([n, s]) => n === 0 && s === 1,
      {
        what: 'news unsubscribed on the Redis side, sport still subscribed',
      },
    );
    expect(await publisher.publish(news, { n: 2 })).toBe(0);
    await publisher.publish(sport, { s: 2 });
    await eventually(
      async () => received.length,
      (count) => count === 3,
    );

    expect(counts).toEqual([1, 1]);
    expect(received).toEqual([
      [news, { n: 1 }],
      [sport, { s: 1 }],
      [sport, { s: 2 }],
    ]);
    expect(subscriber.getSubscribedChannels()).toEqual([sport]);
    await subscriber.unsubscribe();
  });

  it('delivers to redis.psubscribe() what matches the pattern, with the pattern and the channel', async () => {
    const pattern = channelName('user:*');
    const subscriber = client().psubscribe([pattern]);
    const received: unknown[] = [];
    subscriber.on('pmessage', (event) => received.push(event));
    const publisher = client();

    expect(await subscribed(subscriber, 'psubscribe')).toBe(1);
    expect(await publisher.publish(channelName('user:1'), { hello: 1 })).toBe(1);
    expect(await publisher.publish(channelName('other:1'), { hello: 'nobody' })).toBe(0);
    // (The client JSON-parses pattern messages without a fallback, so plain text would be an error.)
    expect(await publisher.publish(channelName('user:2'), ['two'])).toBe(1);
    await eventually(
      async () => received.length,
      (count) => count >= 2,
    );

    expect(received).toEqual([
      { pattern, channel: channelName('user:1'), message: { hello: 1 } },
      { pattern, channel: channelName('user:2'), message: ['two'] },
    ]);
    await subscriber.unsubscribe();
    await eventually(
      () => publisher.publish(channelName('user:3'), 'after'),
      (receivers) => receivers === 0,
      { what: 'the pattern subscription gone on the Redis side' },
    );
  });

  it("speaks Upstash's wire format: text/event-stream, data: lines, a line break splitting the data", async () => {
    const channel = channelName('raw');
    const abort = new AbortController();
    const response = await fetch(`${gateway.url}/subscribe/${encodeURIComponent(channel)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' },
      signal: abort.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (expected: string) => {
      while (!text.includes(expected)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${JSON.stringify(expected)}; got ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    await readUntil('\n\n');
    await direct.publish(channel, 'hello, world');
    await direct.publish(channel, 'line one\nline two');
    await readUntil('line two');

    expect(text).toBe(
      `data: subscribe,${channel},1\n\n` +
        `data: message,${channel},hello, world\n\n` +
        `data: message,${channel},line one\ndata: line two\n\n`,
    );
    abort.abort();
    await eventually(
      () => subscribersOf(channel),
      ([count]) => count === 0,
      {
        what: 'the aborted subscription gone on the Redis side',
      },
    );
  });

  it('refuses a wrong token with 401 and an empty channel with 400, subscribing nothing', async () => {
    const channel = channelName('guarded');
    const intruder = new Redis({ url: gateway.url, token: 'not-the-token', retry: false });
    const errors: Error[] = [];
    const subscriber = intruder.subscribe([channel]);
    subscriber.on('error', (error: Error) => errors.push(error));

    await eventually(
      async () => errors.length,
      (count) => count === 1,
    );
    const empty = await post('/subscribe/', []);

    expect(errors[0]?.message).toMatch(/Unauthorized \(401\)/);
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: string }).error).toMatch(
      /^\/subscribe\/<channel>: the name is empty/,
    );
    expect(await subscribersOf(channel)).toEqual([0]);
  });

  it('answers a subscription with 503 naming Redis when Redis is unreachable, and the client reports it', async () => {
    const port = await closedPort();
    const orphan = await startUpstashGateway({
      redisUrl: `redis://127.0.0.1:${port}`,
      token: TOKEN,
      port: 0,
    });
    try {
      const errors: Error[] = [];
      const subscriber = new Redis({ url: orphan.url, token: TOKEN, retry: false }).subscribe([
        channelName('unreachable'),
      ]);
      subscriber.on('error', (error: Error) => errors.push(error));

      await eventually(
        async () => errors.length,
        (count) => count === 1,
      );

      expect(errors[0]?.message).toMatch(
        new RegExp(`^redis unreachable at 127\\.0\\.0\\.1:${port}: `),
      );
    } finally {
      await orphan.close();
    }
  });

  it('ends open subscriptions and releases their Redis connections when the gateway closes', async () => {
    const own = await startUpstashGateway({ redisUrl: REDIS_URL, token: TOKEN, port: 0 });
    const channel = channelName('closing');
    const subscriber = new Redis({ url: own.url, token: TOKEN, retry: false }).subscribe([channel]);
    expect(await subscribed(subscriber)).toBe(1);

    await own.close();

    await eventually(
      () => subscribersOf(channel),
      ([count]) => count === 0,
      {
        what: 'no subscriber left after the gateway closed',
      },
    );
  });
});
