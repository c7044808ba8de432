import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Loads the repository's `.env` into process.env, as serverless.yml does (`useDotenv`), so the
 * local tools and the functions see the same settings. Variables already set win.
 */
export const loadDotEnv = (): void => {
  const file = join(import.meta.dirname, '..', '.env');
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
