/**
 * CLI: `node --import tsx local/upstash-gateway/main.ts` (`npm run gateway`).
 *
 * Env: REDIS_URL (default redis://127.0.0.1:6379), UPSTASH_GATEWAY_PORT (default 8079),
 * UPSTASH_GATEWAY_HOST (default 127.0.0.1; another interface than loopback needs a token of
 * your own), UPSTASH_REDIS_REST_TOKEN (default: the development token). Prints one start line,
 * never the token; exits with a clear message when it cannot start; exits cleanly on
 * SIGINT/SIGTERM.
 */
import { loadDotEnv } from '../dotenv.ts';
import { DEVELOPMENT_TOKEN } from './bind-policy.ts';
import { startUpstashGateway } from './server.ts';

// docs/local-stack.md promises the gateway reads .env like the other local tools (set variables win).
loadDotEnv();

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const DEFAULT_PORT = 8079;
const SHUTDOWN_DEADLINE_MS = 5_000;

const fail = (message: string): never => {
  console.error(`upstash-gateway: ${message}`);
  process.exit(1);
};

const portFromEnv = (value: string | undefined): number => {
  if (value === undefined || value === '') return DEFAULT_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    return fail(`UPSTASH_GATEWAY_PORT must be an integer from 0 to 65535, got "${value}"`);
  }
  return port;
};

// The start line shows where Redis is, but a password in REDIS_URL must not reach the log.
const withoutPassword = (redisUrl: string): string => {
  try {
    const url = new URL(redisUrl);
    if (url.password !== '') url.password = '***';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(invalid REDIS_URL)';
  }
};

const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL;
const port = portFromEnv(process.env.UPSTASH_GATEWAY_PORT);
const host = process.env.UPSTASH_GATEWAY_HOST || '127.0.0.1';
const configuredToken = process.env.UPSTASH_REDIS_REST_TOKEN;
const token = configuredToken || DEVELOPMENT_TOKEN;

const gateway = await startUpstashGateway({
  redisUrl,
  token,
  port,
  host,
  log: (line) => console.warn(`upstash-gateway: ${line}`),
}).catch((error: unknown) =>
  fail(
    `cannot start: ${error instanceof Error ? error.message : String(error)}${
      (error as { code?: string }).code === 'EADDRINUSE'
        ? ' (is another gateway running? set UPSTASH_GATEWAY_PORT to another port)'
        : ''
    }`,
  ),
);

const tokenNote = configuredToken
  ? ''
  : ' (UPSTASH_REDIS_REST_TOKEN unset: using the development default token)';
console.log(
  `upstash-gateway: listening on ${gateway.url} -> ${withoutPassword(redisUrl)}${tokenNote}`,
);

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  // A stuck connection must not keep a Ctrl-C'd gateway alive.
  setTimeout(() => {
    console.error(`upstash-gateway: still closing after ${SHUTDOWN_DEADLINE_MS} ms; exiting`);
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS).unref();
  gateway.close().then(
    () => {
      process.exitCode = signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1;
    },
    (error: unknown) => fail(`error while closing: ${String(error)}`),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
