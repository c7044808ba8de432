import { isIPv4 } from 'node:net';

/**
 * The token the gateway uses when UPSTASH_REDIS_REST_TOKEN is unset. It is public (docs/local-stack.md,
 * .env.example, serverless.yml), so it may only guard a gateway nobody else can reach.
 */
export const DEVELOPMENT_TOKEN = 'narad-local-token';

/** Shortest token accepted on an interface other machines can reach. */
export const MIN_NETWORK_TOKEN_LENGTH = 16;

/**
 * Says whether `host` is a loopback address: 127.0.0.0/8, ::1 (also as ::ffff:127.x.x.x) or
 * `localhost`. `0.0.0.0`, `::` and every other name or address are not: they can be reached
 * from other machines. Never throws.
 */
export const isLoopbackHost = (host: string): boolean => {
  const bare = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  return isIPv4(v4) && v4.startsWith('127.');
};

/**
 * Refuses to expose the gateway with a token anyone can read: on a non-loopback `host` the token
 * must be set, differ from the development token and have at least MIN_NETWORK_TOKEN_LENGTH
 * characters. Everything behind the gateway (the whole local Redis) is open to whoever holds it.
 *
 * Returns nothing when the bind is safe. Throws an Error naming the host and what to set.
 */
export const assertSafeBind = (host: string, token: string): void => {
  if (isLoopbackHost(host)) return;
  const problem =
    token === DEVELOPMENT_TOKEN
      ? 'the token is the public development token'
      : token.length < MIN_NETWORK_TOKEN_LENGTH
        ? `the token has ${token.length} characters`
        : undefined;
  if (problem === undefined) return;
  throw new Error(
    `refusing to listen on ${host}, which other machines can reach, because ${problem}: set UPSTASH_REDIS_REST_TOKEN to a secret of at least ${MIN_NETWORK_TOKEN_LENGTH} characters (for example \`openssl rand -hex 32\`), or leave UPSTASH_GATEWAY_HOST unset to listen on 127.0.0.1 only`,
  );
};
