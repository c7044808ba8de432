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
