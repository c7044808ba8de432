import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { getDailyStats } from '../lib/analytics/analytics.ts';
import { json, route } from '../lib/lambda/http.ts';
import { getServices } from '../lib/services.ts';

/** GET /analytics/daily/{date} -> {date, totalEvents, userActions, activeUsers, actions}. */
export const handler = (event: APIGatewayProxyEventV2) =>
  route('getDailyStats', async () =>
    json(200, await getDailyStats(getServices(), event.pathParameters?.date ?? '')),
  );
