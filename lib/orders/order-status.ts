import { NotFoundError } from '../errors.ts';
import { identifier, orderKeys } from '../keys.ts';
import { requireRedis } from '../redis/service.ts';
import type { StateServices } from '../state-services.ts';
import type { OrderStatus } from './schema.ts';

/**
 * The read side of orders, apart from orders.ts so GET /orders/{id} bundles no Kafka client.
 */

/** The 404 of an order that is unknown, expired, or (lib/auth/access.ts) someone else's. */
export const orderNotFound = (orderId: string): NotFoundError =>
  new NotFoundError(`Order ${orderId} was not found (unknown, or expired)`);

export interface OrderState {
  orderId: string;
  status: OrderStatus;
  [field: string]: unknown;
}

/**
 * The order's state from its result, error and processing keys (one request).
 * @throws NotFoundError when none exists (unknown, or expired).
 */
export const getOrderStatus = async (
  services: Pick<StateServices, 'redis'>,
  orderId: string,
): Promise<OrderState> => {
  const keys = orderKeys(identifier('orderId', orderId));
  const [result, error, processing] = await requireRedis(services, 'orders').client.mget<
    [OrderState | null, OrderState | null, OrderState | null]
  >(keys.result, keys.error, keys.processing);
  const state = result ?? error ?? processing;
  if (!state) throw orderNotFound(orderId);
  return state;
};
