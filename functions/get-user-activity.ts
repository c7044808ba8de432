import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { getUserActivity } from '../lib/analytics/analytics.ts';
import { json, route } from '../lib/lambda/http.ts';
import { getServices } from '../lib/services.ts';

/** GET /users/{userId}/activity -> the last 50 actions, newest first. */
export const handler = (event: APIGatewayProxyEventV2) =>
  route('getUserActivity', async () => {
    const userId = event.pathParameters?.userId ?? '';
    return json(200, { userId, activity: await getUserActivity(getServices(), userId) });
  });
