import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { checkHealth, httpStatusOfHealth } from '../lib/health.ts';
import { json } from '../lib/lambda/http.ts';
import { getServices } from '../lib/services.ts';

/** GET /health: services, live tests and the overall status; `error` when it cannot even check. */
export const handler = async (): Promise<APIGatewayProxyStructuredResultV2> => {
  try {
    const report = await checkHealth(getServices());
    return json(httpStatusOfHealth(report), report);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(JSON.stringify({ level: 'ERROR', function: 'health', error: message }));
    return json(500, { status: 'error', timestamp: new Date().toISOString(), error: message });
  }
};
