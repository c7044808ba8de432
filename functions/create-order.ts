import { header, httpHandler, json, parseJsonBody } from '../lib/lambda/http.ts';
import { createOrder } from '../lib/orders/orders.ts';
import { orderRequestSchema } from '../lib/orders/schema.ts';
import { getServices } from '../lib/services.ts';

/**
 * POST /orders -> 202 {orderId, status} with Location; Idempotency-Key makes retries safe (a
 * replayed first answer carries `idempotent-replayed: true`).
 */
export const handler = httpHandler('createOrder', async (event, { correlationId }) => {
  const request = parseJsonBody(event, orderRequestSchema);
  const idempotencyKey = header(event, 'idempotency-key');
  const { orderId, status, replayed } = await createOrder(getServices(), request, {
    correlationId,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  });
  return json(
    202,
    { orderId, status },
    { location: `/orders/${orderId}`, ...(replayed ? { 'idempotent-replayed': 'true' } : {}) },
  );
});
