import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { build } from 'esbuild';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { esbuildOptionsFromServerless, serverlessFunctions } from '../../bench/support/bundles.ts';

// The layers (STYLE.md): functions/ wires events to lib/, lib/ is what deploys, local/ emulates
// AWS around lib/ (and may use it), bench/ and test/ drive both. What deploys never reaches
// into the workshop: no lib/ or functions/ file imports local/, test/ or bench/, and no bundle
// `serverless package` builds holds a file from local/.

const ROOT = join(import.meta.dirname, '..', '..');
const DEV_ONLY = ['local', 'test', 'bench'];

const typescriptFiles = async (folder: string): Promise<string[]> =>
  (await readdir(join(ROOT, folder), { recursive: true }))
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(folder, file));

/** Every module `file` imports (static, dynamic, side-effect, type-only), as written. */
const importsOf = async (file: string): Promise<string[]> =>
  ts
    .preProcessFile(await readFile(join(ROOT, file), 'utf8'), true, true)
    .importedFiles.map(({ fileName }) => fileName);

/** The top folder of the repository a relative import lands in (undefined for a package). */
const folderOf = (file: string, specifier: string): string | undefined => {
  if (!specifier.startsWith('.')) return undefined;
  return relative(ROOT, resolve(ROOT, dirname(file), specifier)).split(sep)[0];
};

describe('what deploys', () => {
  it('imports nothing from local/, test/ or bench/: every lib/ and functions/ file', async () => {
    const files = [...(await typescriptFiles('lib')), ...(await typescriptFiles('functions'))];
    const crossings: string[] = [];
    for (const file of files) {
      for (const specifier of await importsOf(file)) {
        const folder = folderOf(file, specifier);
        if (folder && DEV_ONLY.includes(folder)) crossings.push(`${file} -> ${specifier}`);
      }
    }

    expect(files.length).toBeGreaterThan(50);
    expect(crossings).toEqual([]);
  });

  it('has functions/ wire events to lib/ only: no function imports another', async () => {
    const crossings: string[] = [];
    for (const file of await typescriptFiles('functions')) {
      for (const specifier of await importsOf(file)) {
        const folder = folderOf(file, specifier);
        if (folder !== undefined && folder !== 'lib') crossings.push(`${file} -> ${specifier}`);
      }
    }

    expect(crossings).toEqual([]);
  });

  it('bundles no file from local/ into any function (esbuild metafiles, serverless.yml custom.esbuild)', async () => {
    const functions = serverlessFunctions();
    const entryOf = (handler: string) => `${handler.slice(0, handler.lastIndexOf('.'))}.ts`;
    const { metafile } = await build({
      ...esbuildOptionsFromServerless(),
      absWorkingDir: ROOT,
      entryPoints: functions.map(({ handler }) => entryOf(handler)),
      outdir: 'layers-check',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const bundles = Object.values(metafile.outputs).filter((output) => output.entryPoint);
    const fromLocal = bundles.flatMap((output) =>
      Object.keys(output.inputs)
        .filter((input) => input.startsWith('local/'))
        .map((input) => `${output.entryPoint} <- ${input}`),
    );

    expect(bundles.map((output) => output.entryPoint).sort()).toEqual(
      functions.map(({ handler }) => entryOf(handler)).sort(),
    );
    for (const output of bundles) {
      expect(Object.keys(output.inputs), String(output.entryPoint)).toContain(output.entryPoint);
    }
    expect(fromLocal).toEqual([]);
    // Thirteen minified bundles: seconds on a loaded machine.
  }, 60_000);
});
