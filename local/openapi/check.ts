/**
 * Checks of the generated document without a validator dependency: every `$ref` resolves, and
 * a value matches a schema of the document. The matcher knows exactly the JSON Schema keywords
 * this document uses and throws on any other, so a new keyword can never pass unchecked.
 */

type Schema = Record<string, unknown>;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The value at a local JSON Pointer reference (`#/components/schemas/OrderItem`), if any. */
export const resolveRef = (document: unknown, ref: string): unknown => {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = document;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (!isObject(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
};

/** Every `$ref` in the document that points nowhere, with where it was found. */
export const unresolvedRefs = (document: unknown): string[] => {
  const broken: string[] = [];
  const walk = (node: unknown, at: string) => {
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) walk(item, `${at}/${i}`);
    }
    if (!isObject(node)) return;
    if (typeof node.$ref === 'string' && resolveRef(document, node.$ref) === undefined) {
      broken.push(`${node.$ref} (at ${at || '/'})`);
    }
    for (const [key, value] of Object.entries(node)) walk(value, `${at}/${key}`);
  };
  walk(document, '');
  return broken;
};

const typeMatches = (type: unknown, value: unknown): boolean => {
  if (Array.isArray(type)) return type.some((one) => typeMatches(one, value));
  switch (type) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    default:
      throw new Error(`unknown JSON Schema type ${JSON.stringify(type)}`);
  }
};

/** Annotations: they never reject a value (`format` is an annotation in 2020-12). */
const ANNOTATIONS = new Set(['description', 'format', 'title', 'examples']);

/**
 * True when `value` matches `schema`, resolving `$ref`s against `document`.
 * @throws on a keyword this matcher does not implement.
 */
export const matchesSchema = (document: unknown, schema: Schema, value: unknown): boolean => {
  const sub = (child: unknown, item: unknown) => matchesSchema(document, child as Schema, item);
  const checks: Record<string, (keyword: unknown) => boolean> = {
    $ref: (ref) => {
      const target = resolveRef(document, String(ref));
      if (!isObject(target)) throw new Error(`$ref ${String(ref)} does not resolve`);
      return sub(target, value);
    },
    type: (type) => typeMatches(type, value),
    const: (expected) => value === expected,
    enum: (allowed) => (allowed as unknown[]).includes(value),
    anyOf: (schemas) => (schemas as Schema[]).some((one) => sub(one, value)),
    oneOf: (schemas) => (schemas as Schema[]).filter((one) => sub(one, value)).length === 1,
    pattern: (pattern) => typeof value !== 'string' || new RegExp(String(pattern), 'u').test(value),
    minimum: (min) => typeof value !== 'number' || value >= Number(min),
    maximum: (max) => typeof value !== 'number' || value <= Number(max),
    minItems: (min) => !Array.isArray(value) || value.length >= Number(min),
    maxItems: (max) => !Array.isArray(value) || value.length <= Number(max),
    items: (items) => !Array.isArray(value) || value.every((item) => sub(items, item)),
    required: (names) =>
      !isObject(value) || (names as string[]).every((name) => Object.hasOwn(value, name)),
    properties: (properties) =>
      !isObject(value) ||
      Object.entries(properties as Record<string, Schema>).every(
        ([name, property]) => !Object.hasOwn(value, name) || sub(property, value[name]),
      ),
    additionalProperties: (additional) => {
      if (!isObject(value)) return true;
      const declared = isObject(schema.properties) ? schema.properties : {};
      const extra = Object.keys(value).filter((name) => !Object.hasOwn(declared, name));
      if (additional === false) return extra.length === 0;
      if (additional === true) return true;
      return extra.every((name) => sub(additional, value[name]));
    },
    propertyNames: (names) => !isObject(value) || Object.keys(value).every((n) => sub(names, n)),
  };
  return Object.entries(schema).every(([keyword, argument]) => {
    if (ANNOTATIONS.has(keyword)) return true;
    const check = checks[keyword];
    if (!check) throw new Error(`matchesSchema does not implement the keyword "${keyword}"`);
    return check(argument);
  });
};
