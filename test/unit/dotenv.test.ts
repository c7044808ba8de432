import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { envFileProblem } from '../../local/dotenv.ts';

const made: string[] = [];
afterAll(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

const folderWith = async (...files: string[]) => {
  const dir = await mkdtemp(join(tmpdir(), 'narad-dotenv-'));
  made.push(dir);
  for (const file of files) await writeFile(join(dir, file), 'KAFKA_CLIENT_ID=narad\n');
  return dir;
};

describe("the design document's .env.local", () => {
  it('is refused with what to do instead, since only .env is read', async () => {
    const problem = envFileProblem(await folderWith('.env.local'));

    expect(problem).toMatch(/\.env\.local exists, but this project reads \.env/);
    expect(problem).toMatch(/move its settings into \.env/);
  });

  it('is refused beside a .env too (it would still be ignored)', async () => {
    expect(envFileProblem(await folderWith('.env', '.env.local'))).toBeDefined();
  });

  it('leaves a folder with .env alone, or with none', async () => {
    expect(envFileProblem(await folderWith('.env'))).toBeUndefined();
    expect(envFileProblem(await folderWith())).toBeUndefined();
  });
});
