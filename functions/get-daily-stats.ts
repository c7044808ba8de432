import { getDailyStats } from '../lib/analytics/analytics.ts';
import { httpHandler, json } from '../lib/lambda/http.ts';
import { getServices } from '../lib/services.ts';

/** GET /analytics/daily/{date} -> {date, totalEvents, userActions, activeUsers, actions}. */
export const handler = httpHandler('getDailyStats', async (event) =>
  json(200, await getDailyStats(getServices(), event.pathParameters?.date ?? '')),
);
