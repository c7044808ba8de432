import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

/**
 * Why the environment files in `dir` cannot be used as they are, or undefined. The design
 * document told teams to create `.env.local`; this project (serverless.yml's `useDotenv` and
 * these tools) reads `.env`, so a `.env.local` would be silently ignored: it is refused.
 */
export const envFileProblem = (dir: string): string | undefined =>
  existsSync(join(dir, '.env.local'))
    ? `${join(dir, '.env.local')} exists, but this project reads .env (as serverless.yml does), never .env.local: move its settings into .env (mv .env.local .env when there is no .env yet) and remove .env.local`
    : undefined;

/**
 * Loads the repository's `.env` into process.env, as serverless.yml does (`useDotenv`), so the
 * local tools and the functions see the same settings. Variables already set win. Exits with
 * the reason when a `.env.local` is there (envFileProblem).
 */
export const loadDotEnv = (): void => {
  const problem = envFileProblem(ROOT);
  if (problem !== undefined) {
    console.error(`narad: ${problem}`);
    process.exit(1);
  }
  const file = join(ROOT, '.env');
  if (existsSync(file)) process.loadEnvFile(file);
};

/**
 * For the admin tools (`npm run drain`, `npm run watch`): `.env`, then the local stack's
 * addresses for whatever is still unset, the defaults serverless.yml gives the functions.
 */
export const loadLocalToolEnv = (): void => {
  loadDotEnv();
  if (!process.env.MSK_CLUSTER_ARN) process.env.KAFKA_BROKERS ||= '127.0.0.1:9092';
  process.env.UPSTASH_REDIS_REST_URL ||= `http://127.0.0.1:${process.env.UPSTASH_GATEWAY_PORT || 8079}`;
  process.env.UPSTASH_REDIS_REST_TOKEN ||= 'narad-local-token';
};
