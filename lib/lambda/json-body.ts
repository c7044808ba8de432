import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../errors.ts';
import type * as z from '../zod.ts';
import { header } from './headers.ts';

/** The largest request body any route accepts (413 above it). */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * The deepest nesting of objects and arrays a JSON body may have (400 deeper). Our bodies need
 * four levels (`{events: [{data: {...}}]}`); the bound keeps a 64 KiB body of `[[[[...` from
 * overflowing the stack of whatever walks the value later (validation, JSON.stringify).
 */
export const MAX_JSON_DEPTH = 32;

/** At most this many characters of a validation message go into a response. */
const MAX_MESSAGE_CHARS = 500;

const clip = (text: string, max: number): string =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

type Issue = z.core.$ZodIssue;

/** How strongly a union branch's issues say "the body is not this branch at all". */
const mismatchOf = (issues: Issue[]): number =>
  issues.reduce(
    (score, issue) =>
      score +
      (issue.code === 'unrecognized_keys' ? issue.keys.length : 0) +
      (issue.code === 'invalid_type' && issue.path.length === 0 ? 1 : 0),
    0,
  );

/**
 * A union's "Invalid input" says nothing; the issues of the branch the body came closest to
 * (fewest unknown keys and root type mismatches, then fewest issues) name the problem.
 */
const specificIssues = (issue: Issue): Issue[] => {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [issue];
  const closest = [...issue.errors].sort(
    (a, b) => mismatchOf(a) - mismatchOf(b) || a.length - b.length,
  )[0] as Issue[];
  return closest.flatMap((inner) =>
    specificIssues({ ...inner, path: [...issue.path, ...inner.path] } as Issue),
  );
};

const describeIssues = (error: z.core.$ZodError): string =>
  clip(
    error.issues
      .flatMap(specificIssues)
      .slice(0, 3)
      .map((issue) => {
        const where = issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
        return `${clip(where, 100)}: ${clip(issue.message, 200)}`;
      })
      .join('; '),
    MAX_MESSAGE_CHARS,
  );

/** Zod says "expected string, received undefined" for a missing field; "is required" says it plainly. */
const requiredMessage = (issue: z.core.$ZodRawIssue): string | undefined =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined;

/**
 * Validates `input` against `schema`.
 * @throws ValidationError naming the first offending fields.
 */
export const validate = <S extends z.ZodMiniType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> => {
  const parsed = schema.safeParse(input, { error: requiredMessage });
  if (!parsed.success)
    throw new ValidationError(`Invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
};

// JSON.parse keeps a "__proto__" key as an own property, but any later copy of it (zod's
// record parsing, a spread) would set a prototype instead. The reviver sees keys after
// unescaping, so "\u005f_proto__" is caught too. A number beyond the double range (1e999)
// parses to Infinity and would silently become null in JSON again, so it is refused as well.
const reviver = (key: string, value: unknown) => {
  if (key === '__proto__') throw new ValidationError('Request body holds the key "__proto__"');
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new ValidationError(
      `Request body holds a number too large to represent${key ? ` (at "${clip(key, 100)}")` : ''}`,
    );
  }
  return value;
};

/** True when `text` nests objects/arrays deeper than `limit` (strings are skipped). */
const nestsDeeperThan = (text: string, limit: number): boolean => {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character, which therefore cannot end the string.
      if (code === 0x5c) i += 1;
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x7b || code === 0x5b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (code === 0x7d || code === 0x5d) depth -= 1;
  }
  return false;
};

/**
 * The JSON value of a request body's text.
 * @throws ValidationError when it is empty, nested deeper than MAX_JSON_DEPTH, not JSON, or
 *   holds a `__proto__` key or a number beyond the double range.
 */
export const parseJson = (text: string): unknown => {
  if (text.trim() === '') throw new ValidationError('Request body is empty; send a JSON object');
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new ValidationError(
      `Request body nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels`,
    );
  }
  try {
    return JSON.parse(text, reviver);
  } catch (error) {
    if (error instanceof ValidationError) throw error; // the reviver's own refusal
    throw new ValidationError(
      `Request body is not valid JSON (${clip(error instanceof Error ? error.message : String(error), 200)})`,
    );
  }
};

/**
 * The request's JSON body, validated by `schema`.
 * @throws UnsupportedMediaTypeError (415) unless the content type is JSON,
 *   PayloadTooLargeError (413) over `maxBytes`, ValidationError (400) for an empty, too deeply
 *   nested or malformed JSON body, or one that does not match the schema.
 */
export const parseJsonBody = <S extends z.ZodMiniType>(
  event: APIGatewayProxyEventV2,
  schema: S,
  maxBytes = MAX_BODY_BYTES,
): z.output<S> => {
  const contentType = header(event, 'content-type') ?? '';
  if (!/^application\/(.+\+)?json\s*(;|$)/i.test(contentType)) {
    throw new UnsupportedMediaTypeError(
      `Content-Type must be application/json (got ${contentType ? JSON.stringify(clip(contentType, 100)) : 'none'})`,
    );
  }
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text) > maxBytes) {
    throw new PayloadTooLargeError(`Request body is larger than ${maxBytes} bytes`);
  }
  return validate(schema, parseJson(text), 'request body');
};
