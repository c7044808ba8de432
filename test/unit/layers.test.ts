import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { build, type Metafile } from 'esbuild';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import {
  esbuildOptionsFromServerless,
  type FunctionDefinition,
  serverlessFunctions,
} from '../../bench/support/bundles.ts';

// The layers (STYLE.md): functions/ wires events to lib/, lib/ is what deploys, local/ emulates
// AWS around lib/ (and may use it), bench/ and test/ drive both. What deploys never reaches
// into the workshop: no lib/ or functions/ file imports local/, test/ or bench/, and no bundle
// `serverless package` builds holds a file from local/. Nor any classic zod: the functions carry
// zod/mini only (lib/zod.ts says why).

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

const entryOf = (handler: string) => `${handler.slice(0, handler.lastIndexOf('.'))}.ts`;

let built: Promise<{ functions: FunctionDefinition[]; bundles: Metafile['outputs'][string][] }>;

/** Every function bundled as `serverless package` bundles it (metafiles only), built once. */
const functionBundles = () => {
  built ??= (async () => {
    const functions = serverlessFunctions();
    const { metafile } = await build({
      ...esbuildOptionsFromServerless(),
      absWorkingDir: ROOT,
      entryPoints: functions.map(({ handler }) => entryOf(handler)),
      outdir: 'layers-check',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    // Thirteen minified bundles: seconds on a loaded machine.
    return { functions, bundles: Object.values(metafile.outputs).filter((o) => o.entryPoint) };
  })();
  return built;
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
    const { functions, bundles } = await functionBundles();
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
  }, 60_000);

  it('bundles zod/mini only: no classic zod, no locale but English, in any function (lib/zod.ts)', async () => {
    const { bundles } = await functionBundles();
    const zodFiles = bundles.flatMap((output) =>
      Object.keys(output.inputs)
        .filter((input) => input.includes('node_modules/zod/'))
        .map((input) => `${output.entryPoint} <- ${input.slice(input.indexOf('zod/'))}`),
    );
    // locales/index.js only re-exports the locales; a consumer's bundle lists it because its
    // Kafka part is imported lazily (lib/consumer-services.ts), but any locale it would pull
    // in is a file of its own here.
    const unwanted = zodFiles.filter(
      (file) =>
        file.includes('zod/v4/classic/') || /zod\/v4\/locales\/(?!en\.js$|index\.js$)/.test(file),
    );

    expect(zodFiles.some((file) => file.includes('zod/v4/mini/'))).toBe(true);
    expect(unwanted).toEqual([]);
  }, 60_000);
});
