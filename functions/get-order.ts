import { httpHandler, json } from '../lib/lambda/http.ts';
import { getOrderStatus } from '../lib/orders/orders.ts';
import { getServices } from '../lib/services.ts';

/** GET /orders/{orderId} -> 200 the order's state, 404 when unknown or expired. */
export const handler = httpHandler('getOrder', async (event) =>
  json(200, await getOrderStatus(getServices(), event.pathParameters?.orderId ?? '')),
);
