import { httpHandler, json } from '../lib/lambda/http.ts';
import { getServices } from '../lib/services.ts';
import { httpUserSource } from '../lib/users/user-source.ts';
import { getUserProfile } from '../lib/users/users.ts';

const userSource = httpUserSource(process.env.USER_SOURCE_URL ?? 'http://127.0.0.1:8090');

/**
 * GET /users/{userId} -> the profile, from the cache when it is there (x-cache: hit); the
 * x-cache-store header says which store served or kept it (memory while Redis is down).
 */
export const handler = httpHandler('getUser', async (event) => {
  const { profile, cache, source } = await getUserProfile(
    getServices(),
    event.pathParameters?.userId ?? '',
    userSource,
  );
  return json(200, profile, { 'x-cache': cache, 'x-cache-store': source });
});
