import { getDailyStats } from '../lib/analytics/queries.ts';
import { principalOf } from '../lib/auth/principal.ts';
import { httpHandler } from '../lib/lambda/http.ts';
import { json } from '../lib/lambda/http-response.ts';
import { getStateServices } from '../lib/state-services.ts';

/**
 * GET /analytics/daily/{date} -> {date, totalEvents, userActions, activeUsers, actions}: totals
 * over all users, for any signed-in user or the service key.
 */
export const handler = httpHandler('getDailyStats', async (event) => {
  const services = getStateServices();
  principalOf(event, services.config.auth);
  return json(200, await getDailyStats(services, event.pathParameters?.date ?? ''));
});
