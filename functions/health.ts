import { checkHealth, httpStatusOfHealth } from '../lib/health.ts';
import { httpHandler, json } from '../lib/lambda/http.ts';
import { getServices } from '../lib/services.ts';

/** GET /health: services, live tests and the overall status; `error` when it cannot even check. */
export const handler = httpHandler(
  'health',
  async () => {
    const report = await checkHealth(getServices());
    return json(httpStatusOfHealth(report), report);
  },
  {
    errorResponse: (error) =>
      json(500, {
        status: 'error',
        timestamp: new Date().toISOString(),
        error: error instanceof Error ? error.message : String(error),
      }),
  },
);
