import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  inMemoryParts,
  kafkaServers,
  loadConfig,
  profileDefaults,
  profileOf,
  upstashRedis,
} from '../../lib/config.ts';
import { ANSWER_RESERVE_MS } from '../../lib/deadline.ts';
import { ConfigError } from '../../lib/errors.ts';

/** A function's timeout as serverless.yml deploys it (its own, else the provider's). */
const functionTimeoutSeconds = (name: string): number => {
  const serverless = parse(
    readFileSync(join(import.meta.dirname, '..', '..', 'serverless.yml'), 'utf8'),
  ) as { provider: { timeout: number }; functions: Record<string, { timeout?: number }> };
  return serverless.functions[name]?.timeout ?? serverless.provider.timeout;
};

const LOCAL = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
  UPSTASH_REDIS_REST_TOKEN: 'dev-token',
};

const PRODUCTION = {
  NODE_ENV: 'production',
  KAFKA_BROKERS: 'b-1.example.kafka.us-east-1.amazonaws.com:9096',
  KAFKA_SSL: 'true',
  KAFKA_SASL_MECHANISM: 'scram-sha-512',
  KAFKA_SASL_USERNAME: 'narad',
  KAFKA_SASL_PASSWORD: 'prod-secret-password',
  UPSTASH_REDIS_REST_URL: 'https://eu1-example.upstash.io',
  UPSTASH_REDIS_REST_TOKEN: 'prod-secret-token',
  SERVICE_API_KEY: 'prod-secret-service-key-0123456789abcdef',
  USER_SOURCE_URL: 'https://users.internal.example.com',
};

/** The ConfigError that loading `env` throws (fails the test if it does not throw). */
const configErrorOf = (env: Record<string, string>): ConfigError => {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
};

describe('profiles', () => {
  it('is development unless NODE_ENV=production or STAGE is prod/production', () => {
    expect(profileOf({})).toBe('development');
    expect(profileOf({ NODE_ENV: 'test', STAGE: 'dev' })).toBe('development');
    expect(profileOf({ NODE_ENV: 'production' })).toBe('production');
    expect(profileOf({ STAGE: 'prod' })).toBe('production');
    expect(profileOf({ STAGE: 'production' })).toBe('production');
  });

  it('gives development fast failure: 3 s connection, 5 s request timeouts, 100 ms x3 retries, auto-created topics', () => {
    const { kafka, redis, stage } = loadConfig(LOCAL);
    expect(stage).toBe('dev');
    expect(kafka).toMatchObject({
      kind: 'brokers',
      clientId: 'narad-services',
      brokers: ['127.0.0.1:9092'],
      ssl: false,
      sasl: undefined,
      connectionTimeoutMs: 3_000,
      requestTimeoutMs: 5_000,
      retry: { initialRetryTimeMs: 100, retries: 3 },
      allowAutoTopicCreation: true,
    });
    expect(redis).toMatchObject({
      kind: 'upstash',
      url: LOCAL.UPSTASH_REDIS_REST_URL,
      requestTimeoutMs: 3_000,
    });
  });

  it('gives production patience within the functions timeout: 300 ms x8 retries, no auto-created topics', () => {
    const { profile, stage, kafka } = loadConfig(PRODUCTION);
    expect(profile).toBe('production');
    expect(stage).toBe('prod');
    expect(kafka).toMatchObject({
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'narad' },
      connectionTimeoutMs: 3_000,
      requestTimeoutMs: 5_000,
      retry: { initialRetryTimeMs: 300, retries: 8 },
      allowAutoTopicCreation: false,
    });
  });

  it.each(['development', 'production'] as const)(
    'fits a %s Kafka connection attempt, the fallback write and the answer inside the producers timeout',
    (profile) => {
      const settings = profileDefaults(profile);
      const producerTimeoutMs = Math.min(
        ...['createOrder', 'trackEvents'].map((name) => functionTimeoutSeconds(name) * 1000),
      );

      const worstCase =
        settings.connectionTimeoutMs + settings.redisRequestTimeoutMs + ANSWER_RESERVE_MS;

      expect(worstCase).toBeLessThan(producerTimeoutMs);
      expect(settings.requestTimeoutMs + settings.redisRequestTimeoutMs).toBeLessThan(
        producerTimeoutMs,
      );
    },
  );

  it('treats blank variables as absent (serverless.yml passes unset params as empty strings)', () => {
    const config = loadConfig({ ...LOCAL, MSK_CLUSTER_ARN: '', KAFKA_SASL_MECHANISM: ' ' });
    expect(config.kafka).toMatchObject({ kind: 'brokers', sasl: undefined });
    expect(config.kafka).not.toHaveProperty('mskClusterArn');
  });

  it('takes the region for MSK discovery from the cluster ARN when AWS_REGION is unset', () => {
    const { kafka } = loadConfig({
      MSK_CLUSTER_ARN: 'arn:aws:kafka:eu-west-1:123456789012:cluster/narad/751d2973-a626-431c',
    });
    expect(kafka).toMatchObject({ kind: 'msk', region: 'eu-west-1' });
    expect(kafka).not.toHaveProperty('brokers');
  });
});

describe('what is configured says which: servers, embedded or none', () => {
  const ARN = 'arn:aws:kafka:eu-west-1:123456789012:cluster/narad/751d2973-a626-431c';

  it('is none for Kafka and Redis in development when their variables are absent', () => {
    const config = loadConfig({});
    expect(config.kafka).toEqual({ kind: 'none' });
    expect(config.redis).toEqual({ kind: 'none' });
    expect(kafkaServers(config.kafka)).toBeUndefined();
    expect(upstashRedis(config.redis)).toBeUndefined();
    expect(inMemoryParts(config)).toEqual([]);
  });

  it('names brokers from KAFKA_BROKERS and an MSK cluster from MSK_CLUSTER_ARN', () => {
    const brokers = loadConfig(LOCAL).kafka;
    const msk = loadConfig({ MSK_CLUSTER_ARN: ARN }).kafka;
    expect(brokers).toMatchObject({ kind: 'brokers', brokers: ['127.0.0.1:9092'] });
    expect(msk).toMatchObject({ kind: 'msk', mskClusterArn: ARN });
    expect(kafkaServers(brokers)).toBe(brokers);
    expect(kafkaServers(msk)).toBe(msk);
  });

  it('names the Upstash REST API when UPSTASH_REDIS_REST_URL is set', () => {
    const { redis } = loadConfig(LOCAL);
    expect(redis).toEqual({
      kind: 'upstash',
      url: LOCAL.UPSTASH_REDIS_REST_URL,
      token: LOCAL.UPSTASH_REDIS_REST_TOKEN,
      requestTimeoutMs: 3_000,
      retries: 1,
    });
    expect(upstashRedis(redis)).toBe(redis);
  });

  it.each([
    ['kafka', { kafka: 'embedded', redis: 'upstash' }, ['kafka']],
    ['redis', { kafka: 'brokers', redis: 'embedded' }, ['redis']],
    ['redis, kafka', { kafka: 'embedded', redis: 'embedded' }, ['kafka', 'redis']],
  ] as const)(
    'is embedded for the parts NARAD_EMBEDDED=%s names, whatever else is set',
    (parts, kinds, listed) => {
      const config = loadConfig({ ...LOCAL, NARAD_EMBEDDED: parts });
      expect({ kafka: config.kafka.kind, redis: config.redis.kind }).toEqual(kinds);
      expect(inMemoryParts(config)).toEqual(listed);
      if (config.kafka.kind === 'embedded') expect(config.kafka).toEqual({ kind: 'embedded' });
      if (config.redis.kind === 'embedded') expect(config.redis).toEqual({ kind: 'embedded' });
    },
  );

  it("holds none of npm start's own settings: where embedded Kafka delivers is local/'s business", () => {
    const config = loadConfig({
      NARAD_EMBEDDED: 'kafka',
      NARAD_EMBEDDED_LAMBDA_URL: 'not even a URL',
      NARAD_EMBEDDED_MAPPINGS: 'not JSON',
    });
    expect(config.kafka).toEqual({ kind: 'embedded' });
    expect(Object.keys(config).sort()).toEqual(
      ['auth', 'kafka', 'profile', 'rateLimit', 'redis', 'stage'].sort(),
    );
  });

  it('refuses NARAD_EMBEDDED in production, naming it', () => {
    const error = configErrorOf({ ...PRODUCTION, NARAD_EMBEDDED: 'redis' });
    expect(error.variable).toBe('NARAD_EMBEDDED');
    expect(error.message).toMatch(/must be empty in production/);
  });
});

describe('a bad or missing variable fails with one message naming it', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    [
      'KAFKA_BROKERS',
      { KAFKA_BROKERS: 'localhost' },
      /KAFKA_BROKERS must be a comma-separated list of host:port/,
    ],
    ['KAFKA_BROKERS', { KAFKA_BROKERS: '127.0.0.1:9092,' }, /KAFKA_BROKERS must be/],
    ['KAFKA_CLIENT_ID', { KAFKA_CLIENT_ID: 'has spaces' }, /KAFKA_CLIENT_ID must be 1-100 of/],
    [
      'MSK_CLUSTER_ARN',
      { MSK_CLUSTER_ARN: 'arn:aws:s3:::bucket' },
      /MSK_CLUSTER_ARN must be an MSK cluster ARN/,
    ],
    [
      'KAFKA_BROKERS',
      {
        KAFKA_BROKERS: '127.0.0.1:9092',
        MSK_CLUSTER_ARN: 'arn:aws:kafka:us-east-1:123456789012:cluster/a/b',
      },
      /KAFKA_BROKERS and MSK_CLUSTER_ARN are both set/,
    ],
    ['AWS_REGION', { AWS_REGION: 'mars' }, /AWS_REGION must be an AWS region/],
    ['KAFKA_SSL', { KAFKA_SSL: 'maybe' }, /KAFKA_SSL must be true or false/],
    [
      'KAFKA_SASL_MECHANISM',
      { KAFKA_SASL_MECHANISM: 'gssapi' },
      /KAFKA_SASL_MECHANISM must be one of plain, scram-sha-256/,
    ],
    [
      'KAFKA_SASL_USERNAME',
      { ...LOCAL, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'pw' },
      /KAFKA_SASL_USERNAME is required for plain/,
    ],
    [
      'KAFKA_SASL_PASSWORD',
      { ...LOCAL, KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u' },
      /KAFKA_SASL_PASSWORD is required for scram-sha-256/,
    ],
    [
      'KAFKA_SASL_MECHANISM',
      { ...LOCAL, KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'pw' },
      /KAFKA_SASL_MECHANISM is required when KAFKA_SASL_USERNAME\/PASSWORD are set/,
    ],
    [
      'UPSTASH_REDIS_REST_URL',
      { UPSTASH_REDIS_REST_URL: 'redis://127.0.0.1:6379' },
      /UPSTASH_REDIS_REST_URL must be an http\(s\) URL/,
    ],
    [
      'UPSTASH_REDIS_REST_URL',
      { UPSTASH_REDIS_REST_TOKEN: 't' },
      /UPSTASH_REDIS_REST_URL is required when UPSTASH_REDIS_REST_TOKEN is set/,
    ],
    [
      'UPSTASH_REDIS_REST_TOKEN',
      { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079' },
      /UPSTASH_REDIS_REST_TOKEN is required/,
    ],
    ['STAGE', { STAGE: 'Prod Stage' }, /STAGE must be lower-case letters, digits or -/],
  ];

  it.each(cases)('%s: %j', (variable, env, message) => {
    const error = configErrorOf(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/^Invalid configuration: /);
  });
});

describe("the design document's variables", () => {
  it('honours KAFKA_CLIENT_ID, as the design sets it', () => {
    expect(loadConfig({ ...LOCAL, KAFKA_CLIENT_ID: 'narad' }).kafka).toMatchObject({
      clientId: 'narad',
    });
  });

  it.each([
    ['REDIS_HOST', 'localhost', /REDIS_HOST is not used.*set UPSTASH_REDIS_REST_URL/],
    ['REDIS_PORT', '6379', /REDIS_PORT is not used.*UPSTASH_REDIS_REST_URL/],
    ['REDIS_TLS', 'false', /REDIS_TLS is not used.*https UPSTASH_REDIS_REST_URL/],
  ])(
    'refuses %s, which the HTTP client never reads, naming what replaces it',
    (variable, value, message) => {
      const error = configErrorOf({ ...LOCAL, [variable]: value });

      expect(error.variable).toBe(variable);
      expect(error.message).toMatch(message);
    },
  );

  it('lets them be blank, as serverless.yml passes unset params', () => {
    expect(() => loadConfig({ ...LOCAL, REDIS_HOST: '', REDIS_PORT: ' ' })).not.toThrow();
  });
});

describe('production refuses anything that would send credentials in plaintext', () => {
  const cases: Array<[string, Record<string, string | undefined>, RegExp]> = [
    ['KAFKA_SSL', { KAFKA_SSL: 'false' }, /KAFKA_SSL must be true in production/],
    [
      'KAFKA_SASL_MECHANISM',
      {
        KAFKA_SASL_MECHANISM: undefined,
        KAFKA_SASL_USERNAME: undefined,
        KAFKA_SASL_PASSWORD: undefined,
      },
      /KAFKA_SASL_MECHANISM is required in production/,
    ],
    [
      'UPSTASH_REDIS_REST_URL',
      { UPSTASH_REDIS_REST_URL: 'http://redis.internal:8079' },
      /must be an https URL in production/,
    ],
    [
      'KAFKA_BROKERS',
      { KAFKA_BROKERS: undefined },
      /KAFKA_BROKERS or MSK_CLUSTER_ARN is required in production/,
    ],
    [
      'UPSTASH_REDIS_REST_URL',
      { UPSTASH_REDIS_REST_URL: undefined, UPSTASH_REDIS_REST_TOKEN: undefined },
      /UPSTASH_REDIS_REST_URL is required in production/,
    ],
    [
      'KAFKA_SASL_PASSWORD',
      { KAFKA_SASL_PASSWORD: '{{resolve:secretsmanager:narad/prod/kafka:SecretString:password}}' },
      /KAFKA_SASL_PASSWORD holds an unresolved reference instead of its value/,
    ],
    [
      'UPSTASH_REDIS_REST_TOKEN',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a serverless variable, verbatim
      { UPSTASH_REDIS_REST_TOKEN: '${ssm:/narad/prod/upstash-token}' },
      /UPSTASH_REDIS_REST_TOKEN holds an unresolved reference/,
    ],
  ];

  it.each(cases)('%s', (variable, overrides, message) => {
    const env = Object.fromEntries(
      Object.entries({ ...PRODUCTION, ...overrides }).filter(([, value]) => value !== undefined),
    ) as Record<string, string>;
    const error = configErrorOf(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
  });

  it('accepts TLS with SASL/IAM and no password at all', () => {
    const { KAFKA_SASL_USERNAME: _u, KAFKA_SASL_PASSWORD: _p, ...rest } = PRODUCTION;
    expect(loadConfig({ ...rest, KAFKA_SASL_MECHANISM: 'aws-iam' }).kafka).toMatchObject({
      sasl: { mechanism: 'aws-iam' },
    });
  });
});

describe('production refuses to start without authentication', () => {
  const cases: Array<[string, Record<string, string | undefined>, RegExp]> = [
    [
      'AUTH_MODE',
      { AUTH_MODE: 'none' },
      /^Invalid configuration: AUTH_MODE must be session in production \(AUTH_MODE=none opens every route to anyone/,
    ],
    [
      'SERVICE_API_KEY',
      { SERVICE_API_KEY: undefined },
      /SERVICE_API_KEY is required in production .*store it in Secrets Manager/,
    ],
    ['SERVICE_API_KEY', { SERVICE_API_KEY: ' ' }, /SERVICE_API_KEY is required in production/],
    [
      'SERVICE_API_KEY',
      { SERVICE_API_KEY: 'short-key' },
      /SERVICE_API_KEY must be 32-256 printable ASCII characters without spaces/,
    ],
    [
      'SERVICE_API_KEY',
      { SERVICE_API_KEY: '{{resolve:secretsmanager:narad/prod/service-api-key:SecretString:key}}' },
      /SERVICE_API_KEY holds an unresolved reference instead of its value; deploy through CloudFormation/,
    ],
    [
      'RATE_LIMIT_PER_USER',
      { RATE_LIMIT_PER_USER: '0' },
      /RATE_LIMIT_PER_USER must be at least 1 in production/,
    ],
    [
      'RATE_LIMIT_PER_SERVICE',
      { RATE_LIMIT_PER_SERVICE: '0' },
      /RATE_LIMIT_PER_SERVICE must be at least 1 in production/,
    ],
  ];

  it.each(cases)('%s: %j', (variable, overrides, message) => {
    const env = Object.fromEntries(
      Object.entries({ ...PRODUCTION, ...overrides }).filter(([, value]) => value !== undefined),
    ) as Record<string, string>;
    const error = configErrorOf(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
  });

  it('checks sessions by default in production, with the service key and a per-user limit', () => {
    const { auth, rateLimit } = loadConfig(PRODUCTION);
    expect(auth).toEqual({ mode: 'session', serviceApiKey: PRODUCTION.SERVICE_API_KEY });
    expect(rateLimit).toEqual({ userRequests: 60, serviceRequests: 1200, windowSeconds: 60 });
  });
});

describe('production needs the real user service', () => {
  it('refuses to start without USER_SOURCE_URL', () => {
    const { USER_SOURCE_URL: _source, ...withoutSource } = PRODUCTION;

    const error = configErrorOf(withoutSource);

    expect(error.variable).toBe('USER_SOURCE_URL');
    expect(error.message).toBe(
      'Invalid configuration: USER_SOURCE_URL is required in production (GET /users/{userId} reads profiles from it).',
    );
  });

  it.each([
    'http://127.0.0.1:8090',
    'http://127.3.4.5',
    'https://localhost:8443',
    'http://api.localhost',
    'http://[::1]:8090',
    'http://0.0.0.0:8090',
  ])('refuses the loopback address %s', (url) => {
    const error = configErrorOf({ ...PRODUCTION, USER_SOURCE_URL: url });

    expect(error.variable).toBe('USER_SOURCE_URL');
    expect(error.message).toMatch(
      /^Invalid configuration: USER_SOURCE_URL must not be a loopback address in production \(in Lambda that is the function's own sandbox\)/,
    );
  });

  it('refuses what is not an http(s) URL, in any profile', () => {
    expect(configErrorOf({ ...LOCAL, USER_SOURCE_URL: 'users:8090' }).message).toBe(
      'Invalid configuration: USER_SOURCE_URL must be an http(s) URL.',
    );
  });

  it('takes a user service on another host, and the local stand-in in development', () => {
    expect(() =>
      loadConfig({ ...PRODUCTION, USER_SOURCE_URL: 'http://10.0.3.7:8090' }),
    ).not.toThrow();
    expect(() => loadConfig({ ...LOCAL, USER_SOURCE_URL: 'http://127.0.0.1:8090' })).not.toThrow();
    expect(() => loadConfig(LOCAL)).not.toThrow();
  });
});

describe('authentication in development', () => {
  it('is off by default (AUTH_MODE=none), in embedded mode too', () => {
    expect(loadConfig(LOCAL).auth).toEqual({ mode: 'none', serviceApiKey: undefined });
    expect(loadConfig({ NARAD_EMBEDDED: 'kafka,redis' }).auth.mode).toBe('none');
  });

  it('checks sessions with AUTH_MODE=session, with or without a service key', () => {
    expect(loadConfig({ ...LOCAL, AUTH_MODE: 'session' }).auth).toEqual({
      mode: 'session',
      serviceApiKey: undefined,
    });
    const key = 'k'.repeat(32);
    expect(loadConfig({ ...LOCAL, AUTH_MODE: 'session', SERVICE_API_KEY: key }).auth).toEqual({
      mode: 'session',
      serviceApiKey: key,
    });
  });

  it('takes the rate limit from the environment, 0 turning it off', () => {
    const config = loadConfig({
      ...LOCAL,
      RATE_LIMIT_PER_USER: '5',
      RATE_LIMIT_PER_SERVICE: '0',
      RATE_LIMIT_WINDOW_SECONDS: '2',
    });
    expect(config.rateLimit).toEqual({ userRequests: 5, serviceRequests: 0, windowSeconds: 2 });
  });

  it.each([
    ['AUTH_MODE', { AUTH_MODE: 'off' }, /AUTH_MODE must be session or none/],
    ['RATE_LIMIT_PER_USER', { RATE_LIMIT_PER_USER: 'many' }, /must be a whole number from 0 to/],
    ['RATE_LIMIT_PER_USER', { RATE_LIMIT_PER_USER: '-1' }, /must be a whole number from 0 to/],
    [
      'RATE_LIMIT_WINDOW_SECONDS',
      { RATE_LIMIT_WINDOW_SECONDS: '0' },
      /RATE_LIMIT_WINDOW_SECONDS must be a whole number from 1 to 86400/,
    ],
    [
      'SERVICE_API_KEY',
      { SERVICE_API_KEY: `${'k'.repeat(31)} ` },
      /SERVICE_API_KEY must be 32-256 printable ASCII/,
    ],
  ] as const)('refuses %s %j', (variable, env, message) => {
    const error = configErrorOf({ ...LOCAL, ...env });
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
  });
});

describe('secrets never appear in errors', () => {
  it('does not echo the SASL password, the Upstash token or the service key in any message', () => {
    const secrets = ['prod-secret-password', 'prod-secret-token', 'prod-secret-service-key'];
    const broken = [
      { ...PRODUCTION, KAFKA_SSL: 'false' },
      { ...PRODUCTION, AUTH_MODE: 'none' },
      { ...PRODUCTION, SERVICE_API_KEY: 'prod-secret-service-key with a space' },
      { ...PRODUCTION, UPSTASH_REDIS_REST_URL: 'http://x.example:1' },
      { ...PRODUCTION, KAFKA_BROKERS: 'nope' },
      { ...PRODUCTION, KAFKA_SASL_MECHANISM: 'prod-secret-password' },
    ];
    for (const env of broken) {
      const { message } = configErrorOf(env);
      for (const secret of secrets) expect(message).not.toContain(secret);
    }
  });
});
