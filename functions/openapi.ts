import { httpHandler } from '../lib/lambda/http.ts';
import { committedOpenApiDocument } from '../lib/openapi/committed.ts';

// Serialized once per container, on the first request; the document never changes at run time.
let body: string | undefined;

/** GET /openapi.json: the OpenAPI 3.1 document of this API, as committed (openapi.json). */
export const handler = httpHandler('openapi', async () => {
  body ??= JSON.stringify(committedOpenApiDocument);
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body };
});
