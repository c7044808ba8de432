// The OpenAPI document as committed (openapi.json): what GET /openapi.json serves. Bundled,
// esbuild inlines the JSON, so the function carries neither zod nor the schemas that
// document.ts builds it from. test/unit/openapi.test.ts holds this file to what document.ts
// generates (and the served body to the same), so the two cannot drift apart.
import document from '../../openapi.json' with { type: 'json' };

export const committedOpenApiDocument: Readonly<Record<string, unknown>> = document;
