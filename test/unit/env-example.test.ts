import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// .env.example is where a developer learns what can be set: every variable the code of
// lib/, local/ and functions/ reads must be in it, set (`NAME=`) or, for the ones the platform
// sets, named in a comment (`# NAME=`).

const ROOT = join(import.meta.dirname, '..', '..');

const sources = async (folder: string): Promise<string[]> =>
  (await readdir(join(ROOT, folder), { recursive: true }))
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(ROOT, folder, file));

/** `env.NAME`, `process.env.NAME`, `env['NAME']`, and the keys of the zod schemas of the environment. */
const variablesReadBy = (text: string): string[] => [
  ...[...text.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)].map((match) => match[1] as string),
  ...[...text.matchAll(/\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g)].map((match) => match[1] as string),
  ...[...text.matchAll(/^ {2}([A-Z][A-Z0-9_]+): (?:optional\(|z\.)/gm)].map(
    (match) => match[1] as string,
  ),
];

describe('.env.example', () => {
  it('lists every environment variable that lib/, local/ and functions/ read', async () => {
    const files = (
      await Promise.all(['lib', 'local', 'functions'].map((folder) => sources(folder)))
    ).flat();
    const read = new Set<string>();
    for (const file of files) {
      for (const name of variablesReadBy(await readFile(file, 'utf8'))) read.add(name);
    }
    const example = await readFile(join(ROOT, '.env.example'), 'utf8');
    const listed = new Set(
      [...example.matchAll(/^(?:# )?([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]),
    );

    expect(read.size).toBeGreaterThan(25);
    expect([...read].filter((name) => !listed.has(name)).sort()).toEqual([]);
  });
});
