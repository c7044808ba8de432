import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { checkHealth, httpStatusOfHealth } from '../lib/health.ts';
import { errorResponse, json } from '../lib/lambda/http.ts';
import { getServices } from '../lib/services.ts';

/** GET /health: the state of Redis and Kafka as seen from this function. */
export const handler = async (): Promise<APIGatewayProxyStructuredResultV2> => {
  try {
    const report = await checkHealth(getServices());
    return json(httpStatusOfHealth(report), report);
  } catch (error) {
    console.error('health check failed', error);
    return errorResponse(error);
  }
};
