import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { buildOpenApiDocument } from '../../lib/openapi/document.ts';

/** The generated document, committed at the repository root. */
export const OPENAPI_FILE = join(import.meta.dirname, '..', '..', 'openapi.json');

export const REGENERATE_COMMAND = 'node --import tsx local/openapi-cli.ts';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

/**
 * Where the committed document differs from the generated one, as JSON Pointers
 * (`/paths/~1orders/post`), at most `limit`.
 * Only content counts, not key order or formatting (Biome re-indents the committed file).
 */
export const jsonDifferences = (
  generated: unknown,
  committed: unknown,
  limit = 5,
  at = '',
): string[] => {
  if (isDeepStrictEqual(generated, committed)) return [];
  const bothArrays = Array.isArray(generated) && Array.isArray(committed);
  const bothObjects =
    isObject(generated) &&
    isObject(committed) &&
    !Array.isArray(generated) &&
    !Array.isArray(committed);
  if (!bothArrays && !bothObjects) return [at || '/'];
  const left = generated as Record<string, unknown>;
  const right = committed as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])];
  const found: string[] = [];
  for (const key of keys) {
    if (found.length >= limit) break;
    const pointer = `${at}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (!(key in left)) found.push(`${pointer} (no longer generated)`);
    else if (!(key in right)) found.push(`${pointer} (not in the committed file)`);
    else found.push(...jsonDifferences(left[key], right[key], limit - found.length, pointer));
  }
  return found;
};

export type DriftReport =
  | { upToDate: true }
  | { upToDate: false; message: string; differences: string[] };

/**
 * Compares the committed `openapi.json` with what the code generates now.
 * @returns `upToDate: false` with a message naming the first differences and the command
 *   that regenerates the file, when it is missing, not JSON, or different.
 */
export const checkOpenApiDrift = async (file = OPENAPI_FILE): Promise<DriftReport> => {
  const fix = `run \`${REGENERATE_COMMAND}\` and commit openapi.json`;
  const name = relative(process.cwd(), file) || file;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return { upToDate: false, message: `${name} does not exist: ${fix}.`, differences: [] };
  }
  let committed: unknown;
  try {
    committed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      upToDate: false,
      message: `${name} is not JSON (${reason}): ${fix}.`,
      differences: [],
    };
  }
  const generated: unknown = JSON.parse(JSON.stringify(buildOpenApiDocument()));
  const differences = jsonDifferences(generated, committed);
  if (differences.length === 0) return { upToDate: true };
  return {
    upToDate: false,
    message: `${name} differs from the document the code generates (at ${differences.join(', ')}): ${fix}.`,
    differences,
  };
};
