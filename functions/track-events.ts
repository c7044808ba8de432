import { trackEvents } from '../lib/analytics/analytics.ts';
import { trackRequestSchema } from '../lib/analytics/schema.ts';
import { requireEventsOf } from '../lib/auth/access.ts';
import { principalOf } from '../lib/auth/principal.ts';
import { rateLimiterOf } from '../lib/auth/rate-limit.ts';
import { httpHandler } from '../lib/lambda/http.ts';
import { json } from '../lib/lambda/http-response.ts';
import { parseJsonBody } from '../lib/lambda/json-body.ts';
import { getServices } from '../lib/services.ts';

/**
 * POST /analytics/events with one event or {events: [...]} -> 202 {accepted}. A session tracks
 * its own user's events (403 otherwise); the service key any user's. Rate limited (429).
 */
export const handler = httpHandler('trackEvents', async (event, { correlationId }) => {
  const services = getServices();
  const principal = principalOf(event, services.config.auth);
  const body = parseJsonBody(event, trackRequestSchema);
  const events = 'events' in body ? body.events : [body];
  requireEventsOf(
    principal,
    events.map(({ userId }) => userId),
  );
  await rateLimiterOf(services).check(principal, 'POST /analytics/events');
  const { accepted } = await trackEvents(services, events, correlationId);
  return json(202, { accepted });
});
