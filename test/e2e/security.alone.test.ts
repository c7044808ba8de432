import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { MSKEvent, MSKRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { offlineInvoker } from '../../local/msk-bridge/index.ts';
import { type RunningOffline, startOffline } from '../../local/offline.ts';
import { loadEvent } from '../support/fixtures.ts';
import { testKafka } from '../support/kafka.ts';
import { inspector } from '../support/redis.ts';
import { testPorts } from '../support/test-stack.ts';
import { eventually } from '../support/wait.ts';
import {
  carrying,
  keysContaining,
  messagesSince,
  type TopicOffsets,
  topicOffsets,
  valuesMatching,
} from './support/writes.ts';

/**
 * The API with AUTH_MODE=session, end to end: a serverless offline of this file's own (the
 * shared one runs AUTH_MODE=none for the other tests) in front of the real broker and Redis,
 * with the session authorizer on every protected route. Sessions are made the real way (a
 * USER_LOGGED_IN event through Kafka to userCacheEvents, which the shared stack's MSK bridge
 * delivers) or written to Redis as test preparation. Every request is marked, so the checks
 * can prove that refused ones wrote nothing; the last test greps everything this offline
 * printed for every secret the file used.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const WORK = '.esbuild-security-alone';
// A window long enough that 2 x limit + 1 sequential requests span two windows at most, even on
// a loaded machine where a cold container takes a second or two to answer.
const RATE_LIMIT = { perUser: 5, windowSeconds: 20 };

const stack = inject('stack');
// Its own serverless offline, on ports after the npm start test's.
const HTTP_PORT = testPorts(inject('portBase')).ownApps + 100;
const LAMBDA_PORT = HTTP_PORT + 2;
const userSourceUrl = inject('userSourceUrl');
const redis = inspector(stack);
const TOPICS = ['orders', 'user.events', 'system.events'];

const SERVICE_KEY = randomBytes(32).toString('base64url');
const WRONG_KEY = randomBytes(32).toString('base64url');
/** Every credential this file sends: none may appear in the offline's output. */
const secrets = new Set<string>([SERVICE_KEY, WRONG_KEY, stack.upstashToken]);
const output: string[] = [];
let offline: RunningOffline;
let apiUrl: string;

const marker = (what: string) => `${what}${randomUUID().slice(0, 8)}`;
const today = () => new Date().toISOString().slice(0, 10);

/** A session id as a login service would issue one: 192 random bits. */
const newSessionId = () => {
  const id = `sess_${randomBytes(24).toString('base64url')}`;
  secrets.add(id);
  return id;
};

const sessionKeys = new Set<string>();
/** Test preparation: a session as userCacheEvents stores it, logged in `ageMs` ago. */
const openSession = async (userId: string, { ageMs = 0, ttlSeconds = 3600 } = {}) => {
  const id = newSessionId();
  sessionKeys.add(`session:${id}`);
  await redis.set(
    `session:${id}`,
    { userId, createdAt: new Date(Date.now() - ageMs).toISOString() },
    { ex: ttlSeconds },
  );
  return id;
};

interface Call {
  token?: string;
  apiKey?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

const call = async (method: string, path: string, { token, apiKey, body, headers }: Call = {}) => {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === undefined ? {} : { authorization: token }),
      ...(apiKey === undefined ? {} : { 'x-api-key': apiKey }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    // left empty: the assertions show the text
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
};

const bearer = (sessionId: string) => `Bearer ${sessionId}`;
const order = (userId: string, sku: string) => ({
  userId,
  items: [{ sku, quantity: 1, price: 2.5 }],
  currency: 'EUR',
});

beforeAll(async () => {
  offline = await startOffline({
    httpPort: HTTP_PORT,
    lambdaPort: LAMBDA_PORT,
    env: {
      NODE_ENV: 'development',
      AUTH_MODE: 'session',
      SERVICE_API_KEY: SERVICE_KEY,
      RATE_LIMIT_PER_USER: String(RATE_LIMIT.perUser),
      RATE_LIMIT_WINDOW_SECONDS: String(RATE_LIMIT.windowSeconds),
      // Everything our functions can log, so the secret grep below sees the most there is.
      LOG_LEVEL: 'DEBUG',
      KAFKA_BROKERS: stack.kafkaBrokers,
      UPSTASH_REDIS_REST_URL: stack.upstashUrl,
      UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
      USER_SOURCE_URL: userSourceUrl,
      ESBUILD_WORK_FOLDER: WORK,
    },
    onOutput: (chunk) => output.push(chunk),
  });
  apiUrl = offline.url;
});

afterAll(async () => {
  await offline?.stop();
  if (sessionKeys.size > 0) await redis.del(...sessionKeys);
  await rm(join(ROOT, WORK), { recursive: true, force: true });
});

describe('a session made the real way', () => {
  const producer = testKafka(stack.kafkaBrokers).producer();
  afterAll(() => producer.disconnect());

  it('opens when USER_LOGGED_IN goes through Kafka to userCacheEvents, and the API then takes it', async () => {
    const userId = `user-${marker('login')}`;
    const sessionId = newSessionId();
    sessionKeys.add(`session:${sessionId}`);
    const before = await call('GET', `/users/${userId}/activity`, { token: bearer(sessionId) });

    await producer.connect();
    await producer.send({
      topic: 'user.events',
      messages: [
        {
          key: userId,
          value: JSON.stringify({
            eventId: randomUUID(),
            type: 'USER_LOGGED_IN',
            userId,
            sessionId,
            timestamp: new Date().toISOString(),
          }),
        },
      ],
    });
    await eventually(
      () => redis.exists(`session:${sessionId}`),
      (n) => n === 1,
      { what: 'the session stored by userCacheEvents' },
    );
    const after = await call('GET', `/users/${userId}/activity`, { token: bearer(sessionId) });

    expect(before.status).toBe(401);
    expect(after.status, after.text).toBe(200);
    expect(after.body).toEqual({ userId, activity: [] });
  });

  it("opens as well when this offline's own userCacheEvents gets the login as the MSK mapping delivers it", async () => {
    // So the consumer's log lines, with a live session id in its input, are in the grep below.
    const userId = `user-${marker('mapped')}`;
    const sessionId = newSessionId();
    sessionKeys.add(`session:${sessionId}`);
    const event = loadEvent<MSKEvent>('msk-user-events.json');
    const [template] = Object.values(event.records)[0] as [MSKRecord];
    const login = {
      eventId: randomUUID(),
      type: 'USER_LOGGED_IN',
      userId,
      sessionId,
      timestamp: new Date().toISOString(),
    };
    event.records = {
      'user.events-0': [
        {
          ...template,
          partition: 0,
          offset: 0,
          key: Buffer.from(userId).toString('base64'),
          value: Buffer.from(JSON.stringify(login)).toString('base64'),
        },
      ],
    };

    const result = await offlineInvoker({ lambdaUrl: offline.lambdaUrl })(
      'narad-services-dev-userCacheEvents',
      event,
    );
    const activity = await call('GET', `/users/${userId}/activity`, { token: bearer(sessionId) });

    expect(result).toEqual({ batchItemFailures: [] });
    expect(activity.status, activity.text).toBe(200);
  });
});

describe('refused requests on every protected route', () => {
  const victimMark = marker('vic');
  const attackMark = marker('atk');
  const victim = `user-${victimMark}-v`;
  const attacker = `user-${attackMark}-a`;
  let victimOrderId: string;
  let victimKeys: string[];
  let sessions: {
    victim: string;
    attacker: string;
    unknown: string;
    lapsed: string;
    replayed: string;
  };
  let before: TopicOffsets;

  beforeAll(async () => {
    const victimSession = await openSession(victim);
    const placed = await call('POST', '/orders', {
      token: bearer(victimSession),
      body: order(victim, `${victimMark}-SKU`),
    });
    expect(placed.status, placed.text).toBe(202);
    victimOrderId = String(placed.body.orderId);
    sessions = {
      victim: victimSession,
      attacker: await openSession(attacker),
      unknown: newSessionId(),
      // Its key expires within a second: the TTL userCacheEvents sets, run out.
      lapsed: await openSession(victim, { ttlSeconds: 1 }),
      // Still in Redis, but logged in two hours ago: a USER_LOGGED_IN replayed from the topic.
      replayed: await openSession(victim, { ageMs: 2 * 3600 * 1000 }),
    };
    await eventually(
      () => redis.exists(`session:${sessions.lapsed}`),
      (n) => n === 0,
      { what: 'the short-lived session expired' },
    );
    victimKeys = await keysContaining(redis, victimMark);
    before = await topicOffsets(stack.kafkaBrokers, TOPICS);
  });

  /** The protected routes, each as the attacker would call it to reach the victim's data. */
  const routes = () => [
    {
      route: 'POST /orders',
      send: (c: Call) =>
        call('POST', '/orders', { ...c, body: order(victim, `${attackMark}-SKU`) }),
      otherUser: 403,
    },
    {
      route: 'GET /orders/{orderId}',
      send: (c: Call) => call('GET', `/orders/${victimOrderId}`, c),
      otherUser: 404,
    },
    {
      route: 'POST /analytics/events',
      send: (c: Call) =>
        call('POST', '/analytics/events', {
          ...c,
          body: { userId: victim, action: `${attackMark}-view` },
        }),
      otherUser: 403,
    },
    {
      route: 'GET /analytics/daily/{date}',
      send: (c: Call) => call('GET', `/analytics/daily/${today()}`, c),
      // Totals over all users: any session may read them (docs/security.md).
      otherUser: 200,
    },
    {
      route: 'GET /users/{userId}',
      send: (c: Call) => call('GET', `/users/${victim}`, c),
      otherUser: 403,
    },
    {
      route: 'GET /users/{userId}/activity',
      send: (c: Call) => call('GET', `/users/${victim}/activity`, c),
      otherUser: 403,
    },
  ];

  const credentials: Array<[string, () => Call]> = [
    ['no credentials', () => ({})],
    ['a Basic Authorization header', () => ({ token: `Basic ${sessions.attacker}` })],
    ['a session id of 8 characters', () => ({ token: 'Bearer abcdefgh' })],
    ['a session id holding ":"', () => ({ token: `Bearer ${sessions.attacker}:x` })],
    ['an unknown session', () => ({ token: bearer(sessions.unknown) })],
    ['a session whose TTL ran out', () => ({ token: bearer(sessions.lapsed) })],
    ['a session older than an hour', () => ({ token: bearer(sessions.replayed) })],
    ['a wrong x-api-key', () => ({ apiKey: WRONG_KEY })],
  ];

  it.each(
    routes().flatMap(({ route }) => credentials.map(([what], index) => ({ route, what, index }))),
  )('$route with $what -> 401', async ({ route, index }) => {
    const target = routes().find((r) => r.route === route);
    const [, credential] = credentials[index] as [string, () => Call];

    const response = await target?.send(credential());

    expect(response?.status, response?.text).toBe(401);
  });

  it.each(routes().map(({ route, otherUser }) => ({ route, otherUser })))(
    "$route with another user's session -> $otherUser",
    async ({ route, otherUser }) => {
      const target = routes().find((r) => r.route === route);

      const response = await target?.send({ token: bearer(sessions.attacker) });

      expect(response?.status, response?.text).toBe(otherUser);
      if (otherUser === 404) {
        // The very answer of an id that does not exist: nothing tells the two apart.
        const unknown = await call('GET', `/orders/${randomUUID()}`, {
          token: bearer(sessions.attacker),
        });
        expect(response?.body.error).toBe(
          String(unknown.body.error).replace(/Order \S+ /, `Order ${victimOrderId} `),
        );
      }
    },
  );

  it('lets the service key only where services may call (user routes need a session: 401)', async () => {
    const [orders, read, users] = await Promise.all([
      call('POST', '/orders', { apiKey: SERVICE_KEY, body: order(victim, `${attackMark}-SKU`) }),
      call('GET', `/orders/${victimOrderId}`, { apiKey: SERVICE_KEY }),
      call('GET', `/users/${victim}/activity`, { apiKey: SERVICE_KEY }),
    ]);

    expect([orders.status, read.status, users.status]).toEqual([401, 401, 401]);
  });

  it("refuses serverless offline's authorizer override even with a valid session", async () => {
    const forged = await call('GET', `/users/${victim}/activity`, {
      token: bearer(sessions.attacker),
      headers: {
        'sls-offline-authorizer-override': JSON.stringify({
          lambda: { principal: 'user', userId: victim },
        }),
      },
    });

    expect(forged.status, forged.text).toBe(401);
    expect(forged.body.error).toMatch(/sls-offline-authorizer-override header is not accepted/);
  });

  describe('and none of them wrote anything', () => {
    // The control: the attacker's own valid event, marked apart, must be seen by the same checks.
    const control = marker('ctl');
    let messages: Awaited<ReturnType<typeof messagesSince>> = [];

    beforeAll(async () => {
      const accepted = await call('POST', '/analytics/events', {
        token: bearer(sessions.attacker),
        body: { userId: attacker, action: `${control}-view` },
      });
      expect(accepted.status, accepted.text).toBe(202);
      messages = await messagesSince(stack.kafkaBrokers, before);
    });
    afterAll(async () => {
      const made = await keysContaining(redis, attackMark);
      if (made.length > 0) await redis.del(...made);
    });

    it('no Kafka message carries the victim or the attack (the control is there)', () => {
      expect(carrying(messages, control).map((m) => m.topic)).toEqual(['user.events']);
      // The attacker's id is in the control event only.
      expect(carrying(messages, attackMark)).toEqual(carrying(messages, control));
      expect(carrying(messages, victimMark)).toEqual([]);
    });

    it("no Redis key was made for the victim or by the attacker's refused requests", async () => {
      expect((await keysContaining(redis, victimMark)).sort()).toEqual(victimKeys.sort());
      // Only the control's: its activity list and its count in the rate limit. A refused
      // request is refused before the limit counts it.
      expect((await keysContaining(redis, attackMark)).sort()).toEqual([
        expect.stringMatching(new RegExp(`^ratelimit:analytics-events:user:${attacker}:\\d+$`)),
        `user:${attacker}:recent_activity`,
      ]);
    });

    it('no order state holds the attack', async () => {
      const stored = JSON.stringify(await valuesMatching(redis, 'order:*'));
      expect(stored).toContain(victimMark);
      expect(stored).not.toContain(attackMark);
    });
  });
});

describe('a valid session, and the service key, on every route', () => {
  const mark = marker('ok');
  const alice = `user-${mark}-alice`;
  const bob = `user-${mark}-bob`;
  let session: string;

  beforeAll(async () => {
    session = await openSession(alice);
  });
  afterAll(async () => {
    const made = await keysContaining(redis, mark);
    if (made.length > 0) await redis.del(...made);
  });

  it("POST /orders and GET /orders/{orderId}: the user's own order, through to completed", async () => {
    const placed = await call('POST', '/orders', {
      token: bearer(session),
      body: order(alice, `${mark}-SKU`),
    });
    expect(placed.status, placed.text).toBe(202);

    const state = await eventually(
      () => call('GET', `/orders/${placed.body.orderId}`, { token: bearer(session) }),
      (read) => read.body.status === 'completed',
      { what: 'the order completed' },
    );
    expect(state).toMatchObject({ status: 200, body: { userId: alice, total: 2.5 } });
  });

  it('POST /analytics/events for the own user, then GET /users/{userId}/activity shows it', async () => {
    const tracked = await call('POST', '/analytics/events', {
      token: bearer(session),
      body: { events: [{ userId: alice, action: `${mark}-view`, data: { page: 'home' } }] },
    });
    const activity = await call('GET', `/users/${alice}/activity`, { token: bearer(session) });

    expect(tracked).toMatchObject({ status: 202, body: { accepted: 1 } });
    expect(activity.status, activity.text).toBe(200);
    expect(activity.body.activity).toEqual([
      expect.objectContaining({ action: `${mark}-view`, data: { page: 'home' } }),
    ]);
  });

  it("GET /users/{userId}: the user's own profile", async () => {
    const profile = await call('GET', `/users/${alice}`, { token: bearer(session) });

    expect(profile.status, profile.text).toBe(200);
    expect(profile.body).toMatchObject({ userId: alice });
  });

  it('GET /analytics/daily/{date}: for a session and for the service key', async () => {
    const day = today();
    const [bySession, byService] = await Promise.all([
      call('GET', `/analytics/daily/${day}`, { token: bearer(session) }),
      call('GET', `/analytics/daily/${day}`, { apiKey: SERVICE_KEY }),
    ]);

    expect(bySession.status, bySession.text).toBe(200);
    expect(byService.status, byService.text).toBe(200);
    expect(byService.body.date).toBe(day);
  });

  it("POST /analytics/events with the service key: any users' events", async () => {
    const tracked = await call('POST', '/analytics/events', {
      apiKey: SERVICE_KEY,
      body: {
        events: [
          { userId: alice, action: `${mark}-svc` },
          { userId: bob, action: `${mark}-svc` },
        ],
      },
    });

    expect(tracked).toMatchObject({ status: 202, body: { accepted: 2 } });
    expect(await redis.llen(`user:${bob}:recent_activity`)).toBe(1);
  });

  it('takes the session over the service key when a request sends both', async () => {
    const both = await call('POST', '/analytics/events', {
      token: bearer(session),
      apiKey: SERVICE_KEY,
      body: { userId: bob, action: `${mark}-both` },
    });

    expect(both.status, both.text).toBe(403);
  });

  it('GET /health: the overall status for anyone, the whole report for the service key only', async () => {
    const [anyone, service, wrong] = await Promise.all([
      call('GET', '/health'),
      call('GET', '/health', { apiKey: SERVICE_KEY }),
      call('GET', '/health', { apiKey: WRONG_KEY }),
    ]);

    expect(anyone.status).toBe(200);
    expect(anyone.body).toEqual({ overall: 'healthy' });
    expect(service.body).toMatchObject({
      overall: 'healthy',
      services: { kafka: { clientId: expect.any(String), brokers: [stack.kafkaBrokers] } },
      auth: {
        mode: 'session',
        serviceKey: 'configured',
        rateLimit: {
          status: 'enabled',
          perUser: RATE_LIMIT.perUser,
          windowSeconds: RATE_LIMIT.windowSeconds,
          onRedisFailure: 'allow',
        },
      },
    });
    expect(wrong.status).toBe(401);
    expect(service.text).not.toContain(SERVICE_KEY);
  });

  it('GET /openapi.json needs no credentials and documents both schemes', async () => {
    const document = await call('GET', '/openapi.json');

    expect(document.status).toBe(200);
    expect(Object.keys(document.body.components as object)).toContain('securitySchemes');
  });
});

describe('the per-user rate limit on POST routes', () => {
  const mark = marker('rl');
  const user = `user-${mark}-r`;
  afterAll(async () => {
    const made = await keysContaining(redis, mark);
    if (made.length > 0) await redis.del(...made);
  });

  it('answers 429 with Retry-After once the user is over the limit, writes nothing then, and lets the user in again after it', async () => {
    const session = await openSession(user);
    const before = await topicOffsets(stack.kafkaBrokers, ['orders']);
    // Sequential requests take well under a window (RATE_LIMIT), so they span two windows at
    // most and one of them gets more than the limit: the 429 must come within 2 x limit + 1.
    const sent: Array<{ sku: string; status: number; retryAfter: string | null; text: string }> =
      [];
    for (let i = 0; i < 2 * RATE_LIMIT.perUser + 1; i += 1) {
      const sku = `${mark}-N${i}`;
      const response = await call('POST', '/orders', {
        token: bearer(session),
        body: order(user, sku),
      });
      sent.push({
        sku,
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        text: response.text,
      });
      if (response.status === 429) break;
    }
    const refused = sent.at(-1);

    expect(refused?.status, JSON.stringify(sent)).toBe(429);
    expect(sent.slice(0, -1).every(({ status }) => status === 202)).toBe(true);
    expect(sent.length).toBeGreaterThan(RATE_LIMIT.perUser);
    expect(refused?.text).toMatch(/Too many requests: at most 5 POST \/orders per 20 s/);
    const retryAfter = Number(refused?.retryAfter);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(RATE_LIMIT.windowSeconds);
    const messages = await messagesSince(stack.kafkaBrokers, before);
    expect(carrying(messages, `${refused?.sku}"`)).toEqual([]);
    expect(carrying(messages, mark)).toHaveLength(sent.length - 1);

    // Retry-After is the contract under test: waiting exactly that long must be enough.
    await delay(retryAfter * 1_000);
    const again = await call('POST', '/orders', {
      token: bearer(session),
      body: order(user, `${mark}-again`),
    });
    expect(again.status, again.text).toBe(202);
  });
});

describe("the offline's logs of this whole run", () => {
  it('hold the authorizer decisions but no session id, service key or Upstash token', () => {
    const printed = output.join('');

    expect(printed).toMatch(/"function":"authorizer".*"outcome":"allowed"/);
    expect(printed).toMatch(/"function":"authorizer".*"outcome":"denied"/);
    expect(printed).toMatch(/"function":"createOrder".*"status":202/);
    expect(secrets.size).toBeGreaterThan(10);
    const leaked = [...secrets].filter((secret) => printed.includes(secret));
    expect(leaked).toEqual([]);
  });
});
