import { httpHandler } from '../lib/lambda/http.ts';
import { buildOpenApiDocument } from '../lib/openapi/document.ts';

// Built once per container, on the first request; the document never changes at run time.
let body: string | undefined;

/** GET /openapi.json: the OpenAPI 3.1 document of this API. */
export const handler = httpHandler('openapi', async () => {
  body ??= JSON.stringify(buildOpenApiDocument());
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body };
});
