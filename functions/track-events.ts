import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { trackEvents } from '../lib/analytics/analytics.ts';
import { trackRequestSchema } from '../lib/analytics/schema.ts';
import { correlationIdOf, json, parseJsonBody, route } from '../lib/lambda/http.ts';
import { getServices } from '../lib/services.ts';

/** POST /analytics/events with one event or {events: [...]} -> 202 {accepted}. */
export const handler = (event: APIGatewayProxyEventV2) =>
  route('trackEvents', async () => {
    const body = parseJsonBody(event, trackRequestSchema);
    const events = 'events' in body ? body.events : [body];
    const { accepted } = await trackEvents(getServices(), events, correlationIdOf(event));
    return json(202, { accepted });
  });
