import { requireSelf } from '../lib/auth/access.ts';
import { principalOf } from '../lib/auth/principal.ts';
import { httpHandler } from '../lib/lambda/http.ts';
import { json } from '../lib/lambda/http-response.ts';
import { getStateServices } from '../lib/state-services.ts';
import { httpUserSource } from '../lib/users/user-source.ts';
import { getUserProfile } from '../lib/users/users.ts';

const userSource = httpUserSource(process.env.USER_SOURCE_URL ?? 'http://127.0.0.1:8090');

/**
 * GET /users/{userId} -> the profile, from the cache when it is there (x-cache: hit); the
 * x-cache-store header says which store served or kept it (memory while Redis is down). The
 * user's own profile only (403).
 */
export const handler = httpHandler('getUser', async (event) => {
  const services = getStateServices();
  const userId = event.pathParameters?.userId ?? '';
  requireSelf(principalOf(event, services.config.auth), userId);
  const { profile, cache, source } = await getUserProfile(services, userId, userSource);
  return json(200, profile, { 'x-cache': cache, 'x-cache-store': source });
});
