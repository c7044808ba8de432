import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { json, route } from '../lib/lambda/http.ts';
import { getOrderStatus } from '../lib/orders/orders.ts';
import { getServices } from '../lib/services.ts';

/** GET /orders/{orderId} -> 200 the order's state, 404 when unknown or expired. */
export const handler = (event: APIGatewayProxyEventV2) =>
  route('getOrder', async () =>
    json(200, await getOrderStatus(getServices(), event.pathParameters?.orderId ?? '')),
  );
