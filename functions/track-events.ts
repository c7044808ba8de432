import { trackEvents } from '../lib/analytics/analytics.ts';
import { trackRequestSchema } from '../lib/analytics/schema.ts';
import { httpHandler, json, parseJsonBody } from '../lib/lambda/http.ts';
import { getServices } from '../lib/services.ts';

/** POST /analytics/events with one event or {events: [...]} -> 202 {accepted}. */
export const handler = httpHandler('trackEvents', async (event, { correlationId }) => {
  const body = parseJsonBody(event, trackRequestSchema);
  const events = 'events' in body ? body.events : [body];
  const { accepted } = await trackEvents(getServices(), events, correlationId);
  return json(202, { accepted });
});
