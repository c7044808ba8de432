import { requireOwner } from '../lib/auth/access.ts';
import { principalOf } from '../lib/auth/principal.ts';
import { httpHandler } from '../lib/lambda/http.ts';
import { json } from '../lib/lambda/http-response.ts';
import { getOrderStatus, orderNotFound } from '../lib/orders/order-status.ts';
import { getStateServices } from '../lib/state-services.ts';

/**
 * GET /orders/{orderId} -> 200 the order's state; 404 when unknown, expired, or another
 * user's (the same answer, so order ids cannot be probed).
 */
export const handler = httpHandler('getOrder', async (event) => {
  const services = getStateServices();
  const principal = principalOf(event, services.config.auth);
  const orderId = event.pathParameters?.orderId ?? '';
  const order = await getOrderStatus(services, orderId);
  requireOwner(principal, order.userId, () => orderNotFound(orderId));
  return json(200, order);
});
