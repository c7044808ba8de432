import { ConfigError } from './errors.ts';
import * as z from './zod.ts';

/**
 * Environment -> one typed, validated configuration. The two profiles are the original
 * design's: development favours fast failure and convenience, production favours patience
 * and refuses anything that would put credentials on the wire in plaintext.
 *
 * Why one file of ~450 lines: the environment's schema, the profiles' defaults and what
 * production refuses are read together; split apart, a production rule could drift from the
 * setting it guards. Dev-only settings live in local/ (local/embedded/settings.ts).
 */

export type Profile = 'development' | 'production';

export type SaslConfig =
  | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string }
  | { mechanism: 'aws-iam' };

/** The kafkajs client's settings, wherever its brokers come from. */
interface KafkaClientSettings {
  clientId: string;
  /** For MSK discovery and IAM token signing: AWS_REGION, else the cluster ARN's region. */
  region: string | undefined;
  ssl: boolean;
  sasl: SaslConfig | undefined;
  connectionTimeoutMs: number;
  /** Upper bound for one broker request: a connection that went silent fails within this. */
  requestTimeoutMs: number;
  retry: { initialRetryTimeMs: number; retries: number };
  allowAutoTopicCreation: boolean;
}

/**
 * Kafka on servers: bootstrap brokers named in KAFKA_BROKERS, or an MSK cluster whose brokers
 * are looked up from MSK_CLUSTER_ARN (kafka/discovery.ts).
 */
export type KafkaConfig =
  | ({ kind: 'brokers'; brokers: string[] } & KafkaClientSettings)
  | ({ kind: 'msk'; mskClusterArn: string } & KafkaClientSettings);

/**
 * Which Kafka this configuration uses: servers (brokers or MSK), the in-memory log of
 * `npm start` (NARAD_EMBEDDED, development only), or none (development without a broker).
 */
export type KafkaSetup = KafkaConfig | { kind: 'embedded' } | { kind: 'none' };

/** Redis over the Upstash REST API (Upstash itself, or the local gateway in front of a redis-server). */
export interface RedisConfig {
  kind: 'upstash';
  url: string;
  token: string;
  /** Upper bound for one REST request, so an unreachable endpoint cannot hang a Lambda. */
  requestTimeoutMs: number;
  retries: number;
}

/** Which Redis this configuration uses: the REST API, the in-memory store of `npm start`, or none. */
export type RedisSetup = RedisConfig | { kind: 'embedded' } | { kind: 'none' };

/**
 * `session`: the HTTP routes sit behind the session authorizer (functions/authorizer.ts) and
 * the functions enforce who may do what. `none`: no authorizer, every route open to anyone
 * (development only; docs/security.md).
 */
export type AuthMode = 'session' | 'none';

export interface AuthConfig {
  mode: AuthMode;
  /**
   * The service API key (`x-api-key`): analytics ingestion for any user, the detailed /health.
   * Undefined when SERVICE_API_KEY is not set (development only): no request is a service then.
   */
  serviceApiKey: string | undefined;
}

/** The per-caller limit on POST routes (fixed windows in Redis, `@upstash/ratelimit`). */
export interface RateLimitConfig {
  /** Requests one user's session may make per window on each POST route; 0 = no limit. */
  userRequests: number;
  /** The same for the service API key (one shared budget for all its callers); 0 = no limit. */
  serviceRequests: number;
  windowSeconds: number;
}

export interface Config {
  profile: Profile;
  stage: string;
  kafka: KafkaSetup;
  redis: RedisSetup;
  auth: AuthConfig;
  rateLimit: RateLimitConfig;
}

/** Kafka's server settings when Kafka runs on servers; undefined when it is embedded or absent. */
export const kafkaServers = (setup: KafkaSetup): KafkaConfig | undefined =>
  setup.kind === 'brokers' || setup.kind === 'msk' ? setup : undefined;

/** The REST API's settings when Redis is reached over it; undefined when embedded or absent. */
export const upstashRedis = (setup: RedisSetup): RedisConfig | undefined =>
  setup.kind === 'upstash' ? setup : undefined;

/** The parts this configuration runs in memory (development only), in a fixed order. */
export const inMemoryParts = (config: Pick<Config, 'kafka' | 'redis'>): ('kafka' | 'redis')[] =>
  (['kafka', 'redis'] as const).filter((part) => config[part].kind === 'embedded');

/**
 * The profiles' client settings. They fit the functions' timeouts (serverless.yml: 10 s), and
 * every call is cut further to what is left of the invocation (deadline.ts). For createOrder
 * and trackEvents against a broker that hangs: the Redis writes before the send take
 * milliseconds; the send gets the rest of the 10 s less 0.3 s for the answer and less one
 * Redis request (3 s) for the fallback write, so about 6.7 s, in which a connection attempt
 * (3 s) can be retried once; then the messages are parked and the answer is 202, well before
 * Lambda's timeout. The design document's production connection timeout (10 s) and request
 * timeout would each outlast the whole function: see docs/design-differences.md.
 */
const PROFILE_DEFAULTS = {
  development: {
    connectionTimeoutMs: 3_000,
    requestTimeoutMs: 5_000,
    retry: { initialRetryTimeMs: 100, retries: 3 },
    allowAutoTopicCreation: true,
    redisRequestTimeoutMs: 3_000,
    redisRetries: 1,
  },
  production: {
    connectionTimeoutMs: 3_000,
    requestTimeoutMs: 5_000,
    retry: { initialRetryTimeMs: 300, retries: 8 },
    allowAutoTopicCreation: false,
    redisRequestTimeoutMs: 3_000,
    redisRetries: 2,
  },
} as const;

/** The profiles' client settings, for tests that reproduce production's timeouts locally. */
export const profileDefaults = (profile: Profile) => PROFILE_DEFAULTS[profile];

const blankToUndefined = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const optional = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(z.transform(blankToUndefined), z.optional(schema));

/** A comma-separated list, its entries trimmed, each checked by `entry`. */
const listOf = <T extends z.core.$ZodType<unknown, string>>(entry: T) =>
  z.pipe(
    z.pipe(
      z.string(),
      z.transform((value: string) => value.split(',').map((part) => part.trim())),
    ),
    z.array(entry),
  );

const brokerList = listOf(
  z
    .string()
    .check(
      z.regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be a comma-separated list of host:port entries'),
    ),
);

const wholeNumber = (min: number, max: number) => {
  const error = `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ error }).check(z.int(error), z.gte(min, error), z.lte(max, error));
};

/** Printable ASCII without spaces (it travels in a header), long enough not to be guessed. */
export const SERVICE_API_KEY_PATTERN = /^[\x21-\x7e]{32,256}$/;

const booleanFlag = z.pipe(
  z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' }),
  z.transform((value) => value === 'true' || value === '1' || value === 'yes'),
);

const envSchema = z.object({
  NODE_ENV: optional(z.string()),
  STAGE: optional(
    z.string().check(z.regex(/^[a-z0-9-]+$/, 'must be lower-case letters, digits or -')),
  ),
  KAFKA_CLIENT_ID: optional(
    z.string().check(z.regex(/^[A-Za-z0-9._-]{1,100}$/, 'must be 1-100 of A-Z a-z 0-9 . _ -')),
  ),
  KAFKA_BROKERS: optional(brokerList),
  MSK_CLUSTER_ARN: optional(
    z
      .string()
      .check(
        z.regex(
          /^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[^/]+\/[^/]+$/,
          'must be an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)',
        ),
      ),
  ),
  AWS_REGION: optional(
    z.string().check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region')),
  ),
  KAFKA_SSL: optional(booleanFlag),
  KAFKA_SASL_MECHANISM: optional(
    z.enum(['plain', 'scram-sha-256', 'scram-sha-512', 'aws-iam'], {
      error: 'must be one of plain, scram-sha-256, scram-sha-512, aws-iam',
    }),
  ),
  KAFKA_SASL_USERNAME: optional(z.string()),
  KAFKA_SASL_PASSWORD: optional(z.string()),
  UPSTASH_REDIS_REST_URL: optional(
    z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  ),
  UPSTASH_REDIS_REST_TOKEN: optional(z.string()),
  AUTH_MODE: optional(z.enum(['session', 'none'], { error: 'must be session or none' })),
  SERVICE_API_KEY: optional(
    z
      .string()
      .check(
        z.regex(
          SERVICE_API_KEY_PATTERN,
          'must be 32-256 printable ASCII characters without spaces (for example: openssl rand -base64 32)',
        ),
      ),
  ),
  USER_SOURCE_URL: optional(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
  RATE_LIMIT_PER_USER: optional(wholeNumber(0, 1_000_000)),
  RATE_LIMIT_PER_SERVICE: optional(wholeNumber(0, 1_000_000)),
  RATE_LIMIT_WINDOW_SECONDS: optional(wholeNumber(1, 86_400)),
  NARAD_EMBEDDED: optional(
    listOf(z.enum(['kafka', 'redis'], { error: 'must list kafka and/or redis' })),
  ),
});

type Env = z.infer<typeof envSchema>;

const fail = (variable: string, problem: string): never => {
  throw new ConfigError(`Invalid configuration: ${variable} ${problem}.`, variable);
};

/** The profile an environment selects: production for NODE_ENV=production or STAGE=prod(uction). */
export const profileOf = (env: { NODE_ENV?: string; STAGE?: string }): Profile =>
  env.NODE_ENV === 'production' || env.STAGE === 'prod' || env.STAGE === 'production'
    ? 'production'
    : 'development';

const regionOfArn = (arn: string) => arn.split(':')[3];

const saslOf = (env: Env): SaslConfig | undefined => {
  const mechanism = env.KAFKA_SASL_MECHANISM;
  if (mechanism === undefined) {
    if (env.KAFKA_SASL_USERNAME !== undefined || env.KAFKA_SASL_PASSWORD !== undefined) {
      fail('KAFKA_SASL_MECHANISM', 'is required when KAFKA_SASL_USERNAME/PASSWORD are set');
    }
    return undefined;
  }
  if (mechanism === 'aws-iam') return { mechanism };
  const username =
    env.KAFKA_SASL_USERNAME ?? fail('KAFKA_SASL_USERNAME', `is required for ${mechanism}`);
  const password =
    env.KAFKA_SASL_PASSWORD ?? fail('KAFKA_SASL_PASSWORD', `is required for ${mechanism}`);
  return { mechanism, username, password };
};

const kafkaOf = (env: Env, profile: Profile): KafkaSetup => {
  const brokers = env.KAFKA_BROKERS ?? [];
  const mskClusterArn = env.MSK_CLUSTER_ARN;
  if (brokers.length > 0 && mskClusterArn !== undefined) {
    fail(
      'KAFKA_BROKERS',
      'and MSK_CLUSTER_ARN are both set; set one (brokers are discovered from the ARN)',
    );
  }
  if (brokers.length === 0 && mskClusterArn === undefined) {
    if (profile === 'production')
      fail('KAFKA_BROKERS', 'or MSK_CLUSTER_ARN is required in production');
    return { kind: 'none' };
  }
  const sasl = saslOf(env);
  const ssl = env.KAFKA_SSL ?? profile === 'production';
  if (profile === 'production') {
    if (!ssl) fail('KAFKA_SSL', 'must be true in production (TLS is required)');
    if (sasl === undefined)
      fail('KAFKA_SASL_MECHANISM', 'is required in production (SASL is required)');
  }
  const defaults = PROFILE_DEFAULTS[profile];
  const settings: KafkaClientSettings = {
    clientId: env.KAFKA_CLIENT_ID ?? 'narad-services',
    region: env.AWS_REGION ?? (mskClusterArn ? regionOfArn(mskClusterArn) : undefined),
    ssl,
    sasl,
    connectionTimeoutMs: defaults.connectionTimeoutMs,
    requestTimeoutMs: defaults.requestTimeoutMs,
    retry: { ...defaults.retry },
    allowAutoTopicCreation: defaults.allowAutoTopicCreation,
  };
  return mskClusterArn === undefined
    ? { kind: 'brokers', brokers, ...settings }
    : { kind: 'msk', mskClusterArn, ...settings };
};

const redisOf = (env: Env, profile: Profile): RedisSetup => {
  const url = env.UPSTASH_REDIS_REST_URL;
  if (url === undefined) {
    if (profile === 'production') fail('UPSTASH_REDIS_REST_URL', 'is required in production');
    if (env.UPSTASH_REDIS_REST_TOKEN !== undefined) {
      fail('UPSTASH_REDIS_REST_URL', 'is required when UPSTASH_REDIS_REST_TOKEN is set');
    }
    return { kind: 'none' };
  }
  if (profile === 'production' && !url.startsWith('https:')) {
    fail(
      'UPSTASH_REDIS_REST_URL',
      'must be an https URL in production (the token would travel in plaintext)',
    );
  }
  const token =
    env.UPSTASH_REDIS_REST_TOKEN ??
    fail('UPSTASH_REDIS_REST_TOKEN', 'is required when UPSTASH_REDIS_REST_URL is set');
  const defaults = PROFILE_DEFAULTS[profile];
  return {
    kind: 'upstash',
    url,
    token,
    requestTimeoutMs: defaults.redisRequestTimeoutMs,
    retries: defaults.redisRetries,
  };
};

/**
 * The parts NARAD_EMBEDDED asks to run in memory. Where embedded Kafka delivers its records is
 * the dev runner's business (local/embedded/settings.ts reads it), not this schema's.
 */
const embeddedOf = (env: Env, profile: Profile): { kafka: boolean; redis: boolean } => {
  const parts = env.NARAD_EMBEDDED ?? [];
  if (parts.length > 0 && profile === 'production') {
    fail(
      'NARAD_EMBEDDED',
      'must be empty in production (embedded parts keep data in one process and lose it on exit)',
    );
  }
  return { kafka: parts.includes('kafka'), redis: parts.includes('redis') };
};

/** Variables that production fills from SSM / Secrets Manager references (serverless.yml params.prod). */
const REFERENCED_VARIABLES = [
  'KAFKA_SASL_PASSWORD',
  'UPSTASH_REDIS_REST_TOKEN',
  'SERVICE_API_KEY',
  'UPSTASH_REDIS_REST_URL',
] as const;

/**
 * `{{resolve:...}}` or `${ssm:...}` reaching a function means the reference was never resolved
 * (the template went around CloudFormation, or a stage's params were copied into a shell):
 * the "secret" would be the reference text. Checked before anything else, naming the variable
 * and never the value.
 */
const refuseUnresolvedReferences = (source: Record<string, string | undefined>) => {
  for (const variable of REFERENCED_VARIABLES) {
    const value = source[variable];
    if (value !== undefined && /\{\{resolve:|\$\{[a-zA-Z]+:/.test(value)) {
      fail(
        variable,
        'holds an unresolved reference instead of its value; deploy through CloudFormation (it resolves {{resolve:...}}) or set the value itself',
      );
    }
  }
};

const authOf = (env: Env, profile: Profile): AuthConfig => {
  const mode = env.AUTH_MODE ?? (profile === 'production' ? 'session' : 'none');
  if (profile === 'production') {
    if (mode !== 'session') {
      fail(
        'AUTH_MODE',
        'must be session in production (AUTH_MODE=none opens every route to anyone; it is for development only)',
      );
    }
    if (env.SERVICE_API_KEY === undefined) {
      fail(
        'SERVICE_API_KEY',
        'is required in production (analytics ingestion by services and the detailed /health need it); store it in Secrets Manager',
      );
    }
  }
  return { mode, serviceApiKey: env.SERVICE_API_KEY };
};

/**
 * 127.0.0.0/8, ::1, localhost and the unspecified addresses: in a Lambda function they name the
 * function's own sandbox, where no user service runs. (deploy/check-deploy-params.cjs refuses
 * the same before a production stage is packaged.)
 */
const isLoopbackHost = (hostname: string) =>
  hostname === 'localhost' ||
  hostname.endsWith('.localhost') ||
  /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) ||
  ['[::1]', '[::]', '0.0.0.0'].includes(hostname);

/** Production needs the real user service behind GET /users/{userId}, not a local default. */
const checkUserSource = (env: Env, profile: Profile) => {
  if (profile !== 'production') return;
  const url =
    env.USER_SOURCE_URL ??
    fail(
      'USER_SOURCE_URL',
      'is required in production (GET /users/{userId} reads profiles from it)',
    );
  if (isLoopbackHost(new URL(url).hostname)) {
    fail(
      'USER_SOURCE_URL',
      "must not be a loopback address in production (in Lambda that is the function's own sandbox); set the user service's address",
    );
  }
};

const RATE_LIMIT_DEFAULTS = { userRequests: 60, serviceRequests: 1_200, windowSeconds: 60 };

const rateLimitOf = (env: Env, profile: Profile): RateLimitConfig => {
  const limits: RateLimitConfig = {
    userRequests: env.RATE_LIMIT_PER_USER ?? RATE_LIMIT_DEFAULTS.userRequests,
    serviceRequests: env.RATE_LIMIT_PER_SERVICE ?? RATE_LIMIT_DEFAULTS.serviceRequests,
    windowSeconds: env.RATE_LIMIT_WINDOW_SECONDS ?? RATE_LIMIT_DEFAULTS.windowSeconds,
  };
  if (profile === 'production') {
    if (limits.userRequests === 0)
      fail('RATE_LIMIT_PER_USER', 'must be at least 1 in production (0 turns the limit off)');
    if (limits.serviceRequests === 0)
      fail('RATE_LIMIT_PER_SERVICE', 'must be at least 1 in production (0 turns the limit off)');
  }
  return limits;
};

/**
 * The design document's Redis variables, for a TCP connection these functions never open:
 * Redis is reached over HTTP. Each is refused with what replaces it, so a configuration carried
 * over from the document fails at once instead of being silently ignored.
 */
const REPLACED_VARIABLES: Record<string, string> = {
  REDIS_HOST:
    'is not used: these functions reach Redis over HTTP (the Upstash REST API); set UPSTASH_REDIS_REST_URL (and UPSTASH_REDIS_REST_TOKEN) instead, and remove REDIS_HOST',
  REDIS_PORT:
    'is not used: these functions reach Redis over HTTP (the Upstash REST API); the port belongs in UPSTASH_REDIS_REST_URL; remove REDIS_PORT',
  REDIS_TLS:
    'is not used: TLS to Redis is an https UPSTASH_REDIS_REST_URL (required in production); remove REDIS_TLS',
};

const refuseReplacedVariables = (source: Record<string, string | undefined>) => {
  for (const [variable, problem] of Object.entries(REPLACED_VARIABLES)) {
    if (blankToUndefined(source[variable]) !== undefined) fail(variable, problem);
  }
};

/**
 * Reads and validates the configuration.
 * @throws ConfigError naming the first bad variable; the message never contains a secret value.
 */
export const loadConfig = (source: Record<string, string | undefined> = process.env): Config => {
  refuseUnresolvedReferences(source);
  refuseReplacedVariables(source);
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    return fail(variable, issue?.message ?? 'is invalid');
  }
  const env = parsed.data;
  const profile = profileOf(env);
  const embedded = embeddedOf(env, profile);
  checkUserSource(env, profile);
  return {
    profile,
    stage: env.STAGE ?? (profile === 'production' ? 'prod' : 'dev'),
    kafka: embedded.kafka ? { kind: 'embedded' } : kafkaOf(env, profile),
    redis: embedded.redis ? { kind: 'embedded' } : redisOf(env, profile),
    auth: authOf(env, profile),
    rateLimit: rateLimitOf(env, profile),
  };
};
