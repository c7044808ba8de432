import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { buildOpenApiDocument } from '../lib/openapi/document.ts';
import { unresolvedRefs } from './openapi/check.ts';
import { checkOpenApiDrift, OPENAPI_FILE, REGENERATE_COMMAND } from './openapi/drift.ts';

/**
 * `node --import tsx local/openapi-cli.ts [--check]`
 * Writes openapi.json (the OpenAPI 3.1 document built by lib/openapi/) at the repository root,
 * formatted the way Biome formats it so `npm run lint` stays clean. `--check` writes nothing
 * and exits 1 when the committed file differs from what the code generates.
 */

const REPO_ROOT = join(import.meta.dirname, '..');
const BIOME_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'biome');

/** The text as `biome format` would write it; JSON.stringify's layout when Biome is absent. */
const formatted = (text: string): string => {
  const biome = spawnSync(BIOME_BIN, ['format', `--stdin-file-path=${OPENAPI_FILE}`], {
    cwd: REPO_ROOT,
    input: text,
    encoding: 'utf8',
  });
  if (biome.status === 0 && biome.stdout) return biome.stdout;
  console.warn(
    `openapi: biome format did not run (${biome.error?.message ?? biome.stderr.trim()}); writing plain JSON`,
  );
  return text;
};

const main = async () => {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
  const file = relative(process.cwd(), OPENAPI_FILE) || OPENAPI_FILE;
  if (values.check) {
    const report = await checkOpenApiDrift();
    if (!report.upToDate) {
      console.error(`openapi: ${report.message}`);
      process.exit(1);
    }
    console.log(`openapi: ${file} is up to date`);
    return;
  }
  const document = buildOpenApiDocument();
  const broken = unresolvedRefs(document);
  if (broken.length > 0) throw new Error(`not written: unresolved $ref ${broken.join(', ')}`);
  await writeFile(OPENAPI_FILE, formatted(`${JSON.stringify(document, null, 2)}\n`));
  const operations = Object.values(document.paths).flatMap((item) => Object.keys(item)).length;
  console.log(
    `openapi: wrote ${file} (${operations} operations, ${Object.keys(document.components.schemas).length} schemas); check with \`${REGENERATE_COMMAND} --check\``,
  );
};

main().catch((error: unknown) => {
  console.error(`openapi: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
