import { getUserActivity } from '../lib/analytics/queries.ts';
import { requireSelf } from '../lib/auth/access.ts';
import { principalOf } from '../lib/auth/principal.ts';
import { httpHandler } from '../lib/lambda/http.ts';
import { json } from '../lib/lambda/http-response.ts';
import { getStateServices } from '../lib/state-services.ts';

/** GET /users/{userId}/activity -> the last 50 actions, newest first; the user's own only (403). */
export const handler = httpHandler('getUserActivity', async (event) => {
  const services = getStateServices();
  const userId = event.pathParameters?.userId ?? '';
  requireSelf(principalOf(event, services.config.auth), userId);
  return json(200, { userId, activity: await getUserActivity(services, userId) });
});
