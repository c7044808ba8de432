import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/** A sample event from events/ (the same files `serverless invoke local -p` uses), cloned. */
export const loadEvent = <T = unknown>(name: string): T =>
  JSON.parse(readFileSync(join(ROOT, 'events', name), 'utf8')) as T;

/** An event shape exactly as AWS documents it (test/fixtures/aws/). */
export const loadAwsFixture = <T = unknown>(name: string): T =>
  JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'aws', name), 'utf8')) as T;
