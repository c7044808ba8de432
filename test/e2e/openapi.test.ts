import { describe, expect, inject, it } from 'vitest';
import { buildOpenApiDocument, type Response } from '../../lib/openapi/document.ts';
import { matchesSchema, resolveRef } from '../../local/openapi/check.ts';

const apiUrl = inject('apiUrl');
const document = buildOpenApiDocument();

/** The documented GET routes a client can call as they are: no path parameters. */
const parameterless = Object.entries(document.paths).flatMap(([path, item]) =>
  item.get && !path.includes('{') ? [[path, item.get] as const] : [],
);

describe('the OpenAPI document through serverless offline', () => {
  it('is served at GET /openapi.json: 200, JSON, the document the code generates', async () => {
    const response = await fetch(`${apiUrl}/openapi.json`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual(JSON.parse(JSON.stringify(document)));
  });

  it.each(parameterless)(
    'GET %s answers a documented status with the body the document describes',
    async (path, operation) => {
      const response = await fetch(`${apiUrl}${path}`);
      const body: unknown = await response.json();

      const documented = operation.responses[String(response.status)];
      expect(documented, `status ${response.status} of GET ${path} is documented`).toBeDefined();
      const answer = (
        documented && '$ref' in documented ? resolveRef(document, documented.$ref) : documented
      ) as Response;
      const schema = answer.content?.['application/json']?.schema ?? {};
      expect(
        matchesSchema(document, schema as Record<string, unknown>, body),
        `GET ${path} ${response.status}: ${JSON.stringify(body).slice(0, 300)}`,
      ).toBe(true);
    },
  );
});
