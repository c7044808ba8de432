import { getUserActivity } from '../lib/analytics/analytics.ts';
import { httpHandler, json } from '../lib/lambda/http.ts';
import { getServices } from '../lib/services.ts';

/** GET /users/{userId}/activity -> the last 50 actions, newest first. */
export const handler = httpHandler('getUserActivity', async (event) => {
  const userId = event.pathParameters?.userId ?? '';
  return json(200, { userId, activity: await getUserActivity(getServices(), userId) });
});
