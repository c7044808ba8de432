import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { handler as openApiHandler } from '../../functions/openapi.ts';
import { trackRequestSchema } from '../../lib/analytics/schema.ts';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../lib/errors.ts';
import { identifier } from '../../lib/keys.ts';
import { httpStatusOf } from '../../lib/lambda/http-response.ts';
import {
  buildOpenApiDocument,
  IDENTIFIER_PATTERN,
  type Operation,
  type Parameter,
  type Reference,
} from '../../lib/openapi/document.ts';
import { orderRequestSchema } from '../../lib/orders/schema.ts';
import { lambdaContext } from '../../local/msk-bridge/invokers.ts';
import { matchesSchema, resolveRef, unresolvedRefs } from '../../local/openapi/check.ts';
import { checkOpenApiDrift, OPENAPI_FILE, REGENERATE_COMMAND } from '../../local/openapi/drift.ts';
import packageJson from '../../package.json' with { type: 'json' };
import { loadEvent } from '../support/fixtures.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const document = buildOpenApiDocument();

const operations = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, operation]) => ({
    path,
    method,
    operation: operation as Operation,
  })),
);

type HttpApiEvent = string | { method: string; path: string };
type ServerlessYml = {
  functions: Record<string, { events?: Array<{ httpApi?: HttpApiEvent }> }>;
};

/** `METHOD /path -> function` for every httpApi event of serverless.yml. */
const servedRoutes = async (): Promise<string[]> => {
  const yml = parse(await readFile(join(ROOT, 'serverless.yml'), 'utf8')) as ServerlessYml;
  return Object.entries(yml.functions).flatMap(([name, fn]) =>
    (fn.events ?? []).flatMap(({ httpApi }) => {
      if (httpApi === undefined) return [];
      const [method, path] =
        typeof httpApi === 'string' ? httpApi.split(' ') : [httpApi.method, httpApi.path];
      return [`${String(method).toUpperCase()} ${path} -> ${name}`];
    }),
  );
};

const requestBodySchema = (path: string) => {
  const schema = document.paths[path]?.post?.requestBody?.content['application/json']?.schema;
  if (!schema) throw new Error(`POST ${path} documents no JSON request body`);
  return schema as Record<string, unknown>;
};

const component = (name: string) => document.components.schemas[name] as Record<string, unknown>;

const bodyOf = (name: string) => JSON.parse(loadEvent<{ body: string }>(name).body);

describe('openapi.json', () => {
  const tmp = mkdtemp(join(tmpdir(), 'narad-openapi-'));
  afterAll(async () => rm(await tmp, { recursive: true, force: true }));

  it('is the document the code generates', async () => {
    const report = await checkOpenApiDrift();

    expect(report.upToDate, report.upToDate ? '' : report.message).toBe(true);
  });

  it('is what GET /openapi.json serves (the function serves the committed file)', async () => {
    const event = loadEvent<Parameters<typeof openApiHandler>[0]>('http-get-openapi.json');

    const response = await openApiHandler(event, lambdaContext('openapi', 5_000));

    expect(response).toMatchObject({ statusCode: 200 });
    expect(JSON.parse(String(response?.body))).toEqual(JSON.parse(JSON.stringify(document)));
  });

  it('drifting is reported with where it differs and the command that regenerates it', async () => {
    const committed = JSON.parse(await readFile(OPENAPI_FILE, 'utf8'));
    delete committed.paths['/orders'].post.responses['409'];
    committed.info.version = '0.0.0-stale';
    const stale = join(await tmp, 'openapi.json');
    await writeFile(stale, JSON.stringify(committed));

    const report = await checkOpenApiDrift(stale);

    expect(report.upToDate).toBe(false);
    expect(report).toMatchObject({
      differences: [
        '/info/version',
        '/paths/~1orders/post/responses/409 (not in the committed file)',
      ],
      message: expect.stringContaining(REGENERATE_COMMAND),
    });
  });
});

describe('the routes', () => {
  it('are exactly the httpApi routes of serverless.yml, each documented under its function name', async () => {
    const documented = operations.map(
      ({ path, method, operation }) =>
        `${method.toUpperCase()} ${path} -> ${operation.operationId}`,
    );

    expect(documented.sort()).toEqual((await servedRoutes()).sort());
  });

  it('declare each path parameter of the route template, required, and no other', () => {
    for (const { path, method, operation } of operations) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => name);
      const declared = (operation.parameters ?? [])
        .map((p) => ('$ref' in p ? (resolveRef(document, p.$ref) as Parameter) : p))
        .filter((p) => p.in === 'path');

      expect(
        declared.map((p) => p.name),
        `${method} ${path}`,
      ).toEqual(inPath);
      expect(declared.every((p) => p.required)).toBe(true);
    }
  });

  it('answer the error statuses httpStatusOf gives the errors each component describes', () => {
    const statusOf: Record<string, number> = {
      BadRequest: httpStatusOf(new ValidationError('x')),
      Unauthorized: httpStatusOf(new UnauthorizedError('x')),
      Forbidden: httpStatusOf(new ForbiddenError('x')),
      NotFound: httpStatusOf(new NotFoundError('x')),
      Conflict: httpStatusOf(new ConflictError('x')),
      PayloadTooLarge: httpStatusOf(new PayloadTooLargeError('x')),
      UnsupportedMediaType: httpStatusOf(new UnsupportedMediaTypeError('x')),
      TooManyRequests: httpStatusOf(new TooManyRequestsError('x', 1)),
      ServiceUnavailable: httpStatusOf(new ServiceUnavailableError('x', 'redis')),
      InternalError: httpStatusOf(new Error('x')),
    };
    expect(Object.keys(statusOf).sort()).toEqual(Object.keys(document.components.responses).sort());

    for (const { path, method, operation } of operations) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const name = (response as Reference).$ref?.split('/').pop();
        if (name) expect(Number(status), `${method} ${path} ${name}`).toBe(statusOf[name]);
      }
    }
  });

  it('document the headers the handlers read and write', () => {
    const createOrder = document.paths['/orders']?.post;
    const names = (createOrder?.parameters ?? []).map(
      (p) => ('$ref' in p ? (resolveRef(document, p.$ref) as Parameter) : p).name,
    );

    expect(names).toEqual(['Idempotency-Key', 'x-correlation-id']);
    const accepted = createOrder?.responses['202'] as { headers?: object } | undefined;
    expect(Object.keys(accepted?.headers ?? {})).toEqual(['Location', 'x-correlation-id']);
    expect(document.paths['/users/{userId}']?.get?.responses['200']).toHaveProperty([
      'headers',
      'x-cache',
    ]);
    expect(document.components.responses.ServiceUnavailable?.headers).toHaveProperty('retry-after');
    expect(document.components.responses.TooManyRequests?.headers).toHaveProperty('retry-after');
  });

  it('describe identifiers with the pattern lib/keys.ts enforces', () => {
    const samples = ['user-42', 'a.b_c@d+e', 'x'.repeat(128), 'x'.repeat(129), 'a:b', 'a*', 'a b'];
    const pattern = new RegExp(IDENTIFIER_PATTERN, 'u');
    for (const sample of samples) {
      const accepted = (() => {
        try {
          return identifier('id', sample) === sample;
        } catch {
          return false;
        }
      })();
      expect(pattern.test(sample), sample).toBe(accepted);
    }
  });
});

describe('the request body schemas', () => {
  const order = bodyOf('http-post-orders.json');
  const batch = bodyOf('http-post-analytics-events.json');

  it('are the zod schemas converted: required fields and no unknown fields for orders', () => {
    expect(requestBodySchema('/orders')).toEqual({ $ref: '#/components/schemas/OrderRequest' });
    expect(component('OrderRequest')).toMatchObject({
      type: 'object',
      required: ['userId', 'items', 'currency'],
      additionalProperties: false,
    });
    expect(component('OrderItem')).toMatchObject({
      required: ['sku', 'quantity', 'price'],
      additionalProperties: false,
    });
    const branches = component('TrackRequest').anyOf as Array<Record<string, unknown>>;
    expect(branches).toHaveLength(2);
    expect(component('TrackedEvent')).toMatchObject({
      required: ['userId', 'action'],
      additionalProperties: false,
    });
    expect(branches[1]).toMatchObject({ required: ['events'], additionalProperties: false });
  });

  it.each([
    ['the sample order (events/http-post-orders.json)', order, true],
    ['an unknown field', { ...order, coupon: 'FREE' }, false],
    ['a missing currency', { userId: order.userId, items: order.items }, false],
    ['a lower-case currency', { ...order, currency: 'eur' }, false],
    ['no items', { ...order, items: [] }, false],
    ['a quantity of 0', { ...order, items: [{ sku: 'A', quantity: 0, price: 1 }] }, false],
    ['a fractional quantity', { ...order, items: [{ sku: 'A', quantity: 1.5, price: 1 }] }, false],
    ['an unsafe userId', { ...order, userId: 'a:b' }, false],
  ])('POST /orders: %s is %s, as the handler decides', (_what, body, valid) => {
    expect(matchesSchema(document, requestBodySchema('/orders'), body)).toBe(valid);
    expect(orderRequestSchema.safeParse(body).success).toBe(valid);
  });

  it.each([
    ['the sample batch (events/http-post-analytics-events.json)', batch, true],
    ['one event of it alone', batch.events[0], true],
    ['an event without data', { userId: 'user-1', action: 'login' }, true],
    ['an empty batch', { events: [] }, false],
    ['a batch of 101', { events: Array(101).fill(batch.events[0]) }, false],
    ['a batch with a userId beside it', { ...batch, userId: 'user-1' }, false],
    ['an action with a space', { userId: 'user-1', action: 'log in' }, false],
    ['data that is not an object', { userId: 'user-1', action: 'login', data: [1] }, false],
  ])('POST /analytics/events: %s is %s, as the handler decides', (_what, body, valid) => {
    expect(matchesSchema(document, requestBodySchema('/analytics/events'), body)).toBe(valid);
    expect(trackRequestSchema.safeParse(body).success).toBe(valid);
  });

  it('say in words what zod refinements check, which JSON Schema cannot express', () => {
    const threeDecimals = { ...order, items: [{ sku: 'A', quantity: 1, price: 12.345 }] };

    expect(matchesSchema(document, requestBodySchema('/orders'), threeDecimals)).toBe(true);
    expect(orderRequestSchema.safeParse(threeDecimals).success).toBe(false);
    expect(resolveRef(document, '#/components/schemas/OrderItem/properties/price')).toMatchObject({
      description: expect.stringContaining('at most 2 decimals'),
    });
    expect(resolveRef(document, '#/components/schemas/TrackedEvent/properties/data')).toMatchObject(
      { description: expect.stringContaining('at most 4096 bytes') },
    );
  });
});

describe('the document', () => {
  it('has the shape of OpenAPI 3.1', () => {
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    expect(document.info).toMatchObject({ title: 'Narad Services', version: packageJson.version });
    expect(Object.keys(document.paths).every((path) => path.startsWith('/'))).toBe(true);
    for (const kind of ['schemas', 'parameters', 'headers', 'responses'] as const) {
      expect(Object.keys(document.components[kind]).length, kind).toBeGreaterThan(0);
    }
  });

  it('has unique operationIds, a success answer and a description for every response', () => {
    const ids = operations.map(({ operation }) => operation.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, method, operation } of operations) {
      const statuses = Object.keys(operation.responses);
      expect(statuses.every((status) => /^[1-5]\d\d$/.test(status))).toBe(true);
      expect(
        statuses.some((status) => status.startsWith('2')),
        `${method} ${path}`,
      ).toBe(true);
      for (const response of Object.values(operation.responses)) {
        const resolved = '$ref' in response ? resolveRef(document, response.$ref) : response;
        expect(resolved, `${method} ${path}`).toHaveProperty('description');
      }
    }
  });

  it('has every $ref resolving, and no $schema or $id left from zod inside', () => {
    expect(unresolvedRefs(document)).toEqual([]);
    const text = JSON.stringify(document);
    expect(text).not.toContain('"$schema"');
    expect(text).not.toContain('"$id"');
  });
});
