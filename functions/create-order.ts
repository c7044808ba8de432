import { requireSelf } from '../lib/auth/access.ts';
import { principalOf } from '../lib/auth/principal.ts';
import { rateLimiterOf } from '../lib/auth/rate-limit.ts';
import { header } from '../lib/lambda/headers.ts';
import { httpHandler } from '../lib/lambda/http.ts';
import { json } from '../lib/lambda/http-response.ts';
import { parseJsonBody } from '../lib/lambda/json-body.ts';
import { createOrder } from '../lib/orders/create-order.ts';
import { orderRequestSchema } from '../lib/orders/schema.ts';
import { getServices } from '../lib/services.ts';

/**
 * POST /orders -> 202 {orderId, status} with Location; Idempotency-Key makes retries safe (a
 * replayed first answer carries `idempotent-replayed: true`). Only for the session's own user
 * (403 otherwise), within the user's rate limit (429).
 */
export const handler = httpHandler('createOrder', async (event, { correlationId }) => {
  const services = getServices();
  const principal = principalOf(event, services.config.auth);
  const request = parseJsonBody(event, orderRequestSchema);
  requireSelf(principal, request.userId);
  await rateLimiterOf(services).check(principal, 'POST /orders');
  const idempotencyKey = header(event, 'idempotency-key');
  const { orderId, status, replayed } = await createOrder(services, request, {
    correlationId,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  });
  return json(
    202,
    { orderId, status },
    { location: `/orders/${orderId}`, ...(replayed ? { 'idempotent-replayed': 'true' } : {}) },
  );
});
