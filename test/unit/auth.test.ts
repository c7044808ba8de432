import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { requireEventsOf, requireOwner, requireSelf } from '../../lib/auth/access.ts';
import { type AuthorizerDeps, decide } from '../../lib/auth/authorizer.ts';
import { credentialsOf, isServiceKey } from '../../lib/auth/credentials.ts';
import { principalOf } from '../../lib/auth/principal.ts';
import { rateLimitStatus } from '../../lib/auth/rate-limit.ts';
import { lookUpSession, SESSION_LIFETIME_MS } from '../../lib/auth/sessions.ts';
import type { AuthConfig, Config } from '../../lib/config.ts';
import {
  ForbiddenError,
  NotFoundError,
  RedisUnavailableError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../../lib/errors.ts';
import { authReport, maySeeHealthDetails } from '../../lib/health.ts';
import { errorResponse } from '../../lib/lambda/http-response.ts';
import { loadEvent } from '../support/fixtures.ts';

const SERVICE_KEY = 'svc-key-0123456789abcdef0123456789abcdef';
const SESSION = 'sess_3f9a1c7e5b2d4e6f8a0b1c2d3e4f5a6b';
const SESSION_MODE: AuthConfig = { mode: 'session', serviceApiKey: SERVICE_KEY };
const NO_AUTH: AuthConfig = { mode: 'none', serviceApiKey: undefined };

/**
 * A Redis `get` over a plain map of values (the keys the authorizer may ask for), each held as
 * Redis would hold it: a string as it is, anything else as its JSON text.
 */
const storeOf = (values: Record<string, unknown>) => ({
  asked: [] as string[],
  async get(key: string): Promise<string | null> {
    this.asked.push(key);
    const value = values[key];
    if (value === undefined) return null;
    return typeof value === 'string' ? value : JSON.stringify(value);
  },
});

const session = (userId: string, ageMs = 0) => ({
  userId,
  createdAt: new Date(Date.now() - ageMs).toISOString(),
});

describe('credentials', () => {
  it('reads a Bearer session id, whatever the case of the scheme and of the header name', () => {
    expect(credentialsOf({ authorization: `Bearer ${SESSION}` })).toEqual({
      kind: 'session',
      sessionId: SESSION,
    });
    expect(credentialsOf({ Authorization: `bearer ${SESSION}` })).toMatchObject({
      kind: 'session',
    });
  });

  it('lets Authorization win over x-api-key (the authorizer cache is keyed by it alone)', () => {
    expect(credentialsOf({ authorization: `Bearer ${SESSION}`, 'x-api-key': SERVICE_KEY })).toEqual(
      { kind: 'session', sessionId: SESSION },
    );
    expect(credentialsOf({ 'x-api-key': SERVICE_KEY })).toEqual({
      kind: 'service-key',
      key: SERVICE_KEY,
    });
    expect(credentialsOf({})).toEqual({ kind: 'none' });
    expect(credentialsOf(null)).toEqual({ kind: 'none' });
  });

  it.each([
    ['another scheme', `Basic ${SESSION}`, /not "Bearer <session id>"/],
    ['no token', 'Bearer ', /not "Bearer <session id>"/],
    ['two tokens', `Bearer ${SESSION} ${SESSION}`, /not "Bearer <session id>"/],
    ['a token of 15 characters', 'Bearer sess_0123456789', /got 15 characters/],
    ['a token of 129 characters', `Bearer ${'s'.repeat(129)}`, /got 129 characters/],
    ['a ":" that would reach another key', `Bearer ${SESSION}:x`, /16-128 characters of/],
    ['a "*" pattern', `Bearer ${SESSION}*`, /16-128 characters of/],
    ['non-ASCII letters', `Bearer ${SESSION}é`, /16-128 characters of/],
  ])('refuses %s before any lookup, without echoing it', (_what, authorization, problem) => {
    const credentials = credentialsOf({ authorization });
    expect(credentials.kind).toBe('malformed');
    const text = (credentials as { problem: string }).problem;
    expect(text).toMatch(problem);
    expect(text).not.toContain(SESSION);
  });

  it('compares the service key in full and in constant time over equal-length digests', () => {
    expect(isServiceKey(SERVICE_KEY, SERVICE_KEY)).toBe(true);
    expect(isServiceKey(SERVICE_KEY, SERVICE_KEY.slice(0, -1))).toBe(false);
    expect(isServiceKey(SERVICE_KEY, `${SERVICE_KEY}x`)).toBe(false);
    expect(isServiceKey(SERVICE_KEY, '')).toBe(false);
    expect(isServiceKey(undefined, SERVICE_KEY)).toBe(false);
  });
});

describe('session lookup', () => {
  it('finds the user of a stored session', async () => {
    const redis = storeOf({ [`session:${SESSION}`]: session('user-42') });
    expect(await lookUpSession(redis, SESSION)).toEqual({ status: 'valid', userId: 'user-42' });
    expect(redis.asked).toEqual([`session:${SESSION}`]);
  });

  it("finds it beside the login's sessionData, which it leaves to the application", async () => {
    const stored = { ...session('user-42'), sessionData: { role: 'admin', userId: 'user-7' } };
    const redis = storeOf({ [`session:${SESSION}`]: stored });
    expect(await lookUpSession(redis, SESSION)).toEqual({ status: 'valid', userId: 'user-42' });
  });

  it('calls a session older than its lifetime expired, even if the key is still there', async () => {
    const redis = storeOf({
      [`session:${SESSION}`]: session('user-42', SESSION_LIFETIME_MS + 1_000),
    });
    expect(await lookUpSession(redis, SESSION)).toEqual({ status: 'expired' });
  });

  it('refuses what is not a session rather than guessing', async () => {
    for (const stored of [
      'user-42',
      '{"userId":',
      { userId: 'user-42' },
      { userId: 'a:b', createdAt: new Date().toISOString() },
      { userId: 'user-42', createdAt: 'yesterday' },
    ]) {
      const redis = storeOf({ [`session:${SESSION}`]: stored });
      expect(await lookUpSession(redis, SESSION), JSON.stringify(stored)).toEqual({
        status: 'malformed',
      });
    }
  });
});

describe('the authorizer decision', () => {
  const deps = (values: Record<string, unknown> = {}): AuthorizerDeps => ({
    config: { auth: SESSION_MODE },
    redis: storeOf(values),
  });

  it('lets a known session in as its user', async () => {
    const decision = await decide(deps({ [`session:${SESSION}`]: session('user-42') }), {
      authorization: `Bearer ${SESSION}`,
    });
    expect(decision).toEqual({ allowed: true, context: { principal: 'user', userId: 'user-42' } });
  });

  it('lets the service key in as the service', async () => {
    expect(await decide(deps(), { 'x-api-key': SERVICE_KEY })).toEqual({
      allowed: true,
      context: { principal: 'service' },
    });
  });

  it.each([
    ['no credentials', {}, 'no-credentials'],
    ['a malformed header', { authorization: 'Token abc' }, 'malformed-credentials'],
    ['an unknown session', { authorization: `Bearer ${SESSION}` }, 'unknown-session'],
    ['a wrong service key', { 'x-api-key': `${SERVICE_KEY}0` }, 'wrong-service-key'],
  ])('refuses %s', async (_what, headers, reason) => {
    expect(await decide(deps(), headers)).toMatchObject({ allowed: false, reason });
  });

  it('refuses an expired session', async () => {
    const old = session('user-42', SESSION_LIFETIME_MS * 2);
    expect(
      await decide(deps({ [`session:${SESSION}`]: old }), { authorization: `Bearer ${SESSION}` }),
    ).toMatchObject({ allowed: false, reason: 'expired-session' });
  });

  it('refuses any x-api-key when no service key is configured', async () => {
    const noKey: AuthorizerDeps = {
      config: { auth: { mode: 'session', serviceApiKey: undefined } },
      redis: storeOf({}),
    };
    expect(await decide(noKey, { 'x-api-key': SERVICE_KEY })).toMatchObject({ allowed: false });
  });

  it('fails closed when Redis cannot answer: it throws, it never lets the request in', async () => {
    const broken: AuthorizerDeps = {
      config: { auth: SESSION_MODE },
      redis: {
        get: async () => {
          throw new RedisUnavailableError('Redis over HTTP is unreachable');
        },
      },
    };
    await expect(decide(broken, { authorization: `Bearer ${SESSION}` })).rejects.toThrow(
      RedisUnavailableError,
    );
    await expect(
      decide(
        { config: { auth: SESSION_MODE }, redis: undefined },
        {
          authorization: `Bearer ${SESSION}`,
        },
      ),
    ).rejects.toThrow(/Redis is not configured/);
  });
});

describe('the principal a function sees', () => {
  const event = (lambda: unknown, headers: Record<string, string> = {}) => {
    const base = loadEvent<APIGatewayProxyEventV2>('http-get-order.json');
    return {
      ...base,
      headers: { ...base.headers, ...headers },
      requestContext: { ...base.requestContext, authorizer: { lambda } },
    } as APIGatewayProxyEventV2;
  };

  it("is the authorizer's user or service", () => {
    expect(principalOf(event({ principal: 'user', userId: 'user-42' }), SESSION_MODE)).toEqual({
      kind: 'user',
      userId: 'user-42',
    });
    expect(principalOf(event({ principal: 'service' }), SESSION_MODE)).toEqual({
      kind: 'service',
    });
  });

  it('is refused (401) without an authorizer context, or with one the authorizer never writes', () => {
    for (const lambda of [undefined, {}, { principal: 'user' }, { principal: 'admin' }]) {
      expect(() => principalOf(event(lambda), SESSION_MODE), JSON.stringify(lambda)).toThrow(
        UnauthorizedError,
      );
    }
    expect(() => principalOf(event({ principal: 'user', userId: 'a:b' }), SESSION_MODE)).toThrow(
      UnauthorizedError,
    );
  });

  it("refuses serverless offline's authorizer override header", () => {
    const forged = event(
      { principal: 'user', userId: 'victim' },
      { 'sls-offline-authorizer-override': '{"lambda":{"principal":"user","userId":"victim"}}' },
    );
    expect(() => principalOf(forged, SESSION_MODE)).toThrow(/is not accepted/);
  });

  it('is anonymous with AUTH_MODE=none, whatever the request says', () => {
    expect(principalOf(event(undefined), NO_AUTH)).toEqual({ kind: 'anonymous' });
  });
});

describe('the access rules', () => {
  const alice = { kind: 'user', userId: 'alice' } as const;
  const service = { kind: 'service' } as const;
  const anonymous = { kind: 'anonymous' } as const;

  it('let a user act as themself only (403)', () => {
    expect(() => requireSelf(alice, 'alice')).not.toThrow();
    expect(() => requireSelf(alice, 'bob')).toThrow(ForbiddenError);
    expect(() => requireSelf(alice, 'bob')).toThrow(/userId must be the signed-in user's own/);
    expect(() => requireSelf(service, 'bob')).toThrow(/service key cannot call it/);
    expect(() => requireSelf(anonymous, 'bob')).not.toThrow();
  });

  it("let a session track its own user's events, the service key anyone's", () => {
    expect(() => requireEventsOf(alice, ['alice', 'alice'])).not.toThrow();
    expect(() => requireEventsOf(alice, ['alice', 'bob'])).toThrow(/events\.1\.userId must be/);
    expect(() => requireEventsOf(alice, ['bob'])).toThrow(/^userId must be/);
    expect(() => requireEventsOf(service, ['alice', 'bob'])).not.toThrow();
    expect(() => requireEventsOf(anonymous, ['bob'])).not.toThrow();
  });

  it("hide another user's order behind the same 404 as an unknown one", () => {
    const notFound = () => new NotFoundError('Order o-1 was not found (unknown, or expired)');
    expect(() => requireOwner(alice, 'alice', notFound)).not.toThrow();
    expect(() => requireOwner(alice, 'bob', notFound)).toThrow(NotFoundError);
    expect(() => requireOwner(alice, undefined, notFound)).toThrow(NotFoundError);
    expect(() => requireOwner(service, 'bob', notFound)).toThrow(NotFoundError);
    expect(() => requireOwner(anonymous, 'bob', notFound)).not.toThrow();
  });
});

describe('the answers of refused requests', () => {
  it('are 401 with the scheme to use, 403, and 429 with the seconds to wait', () => {
    expect(errorResponse(new UnauthorizedError('no session'))).toMatchObject({
      statusCode: 401,
      headers: { 'www-authenticate': 'Bearer' },
      body: JSON.stringify({ error: 'no session' }),
    });
    expect(errorResponse(new ForbiddenError('not yours')).statusCode).toBe(403);
    expect(errorResponse(new TooManyRequestsError('slow down', 7))).toMatchObject({
      statusCode: 429,
      headers: { 'retry-after': '7' },
    });
  });
});

describe('the health document and the auth settings it reports', () => {
  it('shows the details to the service key only, and refuses a wrong key', () => {
    expect(maySeeHealthDetails(SESSION_MODE, undefined)).toBe(false);
    expect(maySeeHealthDetails(SESSION_MODE, SERVICE_KEY)).toBe(true);
    expect(() => maySeeHealthDetails(SESSION_MODE, 'nope')).toThrow(UnauthorizedError);
    expect(maySeeHealthDetails(NO_AUTH, undefined)).toBe(true);
  });

  const config = (overrides: Partial<Config> = {}) =>
    ({
      auth: SESSION_MODE,
      redis: {
        kind: 'upstash',
        url: 'http://127.0.0.1:8079',
        token: 't',
        requestTimeoutMs: 1000,
        retries: 1,
      },
      rateLimit: { userRequests: 60, serviceRequests: 1200, windowSeconds: 60 },
      ...overrides,
    }) as Config;

  it('says when AUTH_MODE=none leaves everything open, and that nothing is rate limited then', () => {
    expect(authReport(config({ auth: NO_AUTH }))).toEqual({
      mode: 'none',
      warning: expect.stringMatching(/every route is open to anyone.*development only/),
      rateLimit: { status: 'skipped', reason: expect.stringMatching(/AUTH_MODE=none/) },
    });
  });

  it('reports the rate limit, fail-open, or why it is skipped (embedded Redis has no Lua)', () => {
    expect(authReport(config())).toEqual({
      mode: 'session',
      serviceKey: 'configured',
      rateLimit: {
        status: 'enabled',
        perUser: 60,
        perService: 1200,
        windowSeconds: 60,
        onRedisFailure: 'allow',
      },
    });
    const embedded = config({ redis: { kind: 'embedded' } });
    expect(rateLimitStatus(embedded)).toEqual({
      status: 'skipped',
      reason: expect.stringMatching(/embedded Redis runs only this project's scripts/),
    });
  });
});
