import { UnauthorizedError } from '../lib/errors.ts';
import {
  checkHealth,
  httpStatusOfHealth,
  maySeeHealthDetails,
  publicHealth,
} from '../lib/health.ts';
import { header } from '../lib/lambda/headers.ts';
import { httpHandler } from '../lib/lambda/http.ts';
import { errorResponse, json } from '../lib/lambda/http-response.ts';
import { getServices } from '../lib/services.ts';

/**
 * GET /health: the overall status for anyone; services, live tests and auth settings too with
 * the service key (x-api-key), or for everyone with AUTH_MODE=none. `error` when it cannot even
 * check; 401 for an x-api-key that is not the service key.
 */
export const handler = httpHandler(
  'health',
  async (event) => {
    const services = getServices();
    const details = maySeeHealthDetails(services.config.auth, header(event, 'x-api-key'));
    const report = await checkHealth(services);
    return json(httpStatusOfHealth(report), details ? report : publicHealth(report));
  },
  {
    errorResponse: (error) =>
      error instanceof UnauthorizedError
        ? errorResponse(error)
        : json(500, {
            overall: 'error',
            timestamp: new Date().toISOString(),
            error: error instanceof Error ? error.message : String(error),
          }),
  },
);
