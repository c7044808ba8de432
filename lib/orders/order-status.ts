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
  new NotFoundError(`Order ${orderId} was not found (unknown, or older than 15 days)`);

export interface OrderState {
  orderId: string;
  status: OrderStatus;
  [field: string]: unknown;
}

/**
 * The order's state (one request): the design's result, error and processing keys while they
 * live (1 h, 24 h, 5-10 min), then `order:{id}:state`, which lives 15 days: an order parked in
 * the fallback list for longer than its pending state answers pending, a completed or failed
 * one keeps its status after its details expired.
 * @throws NotFoundError when none exists (unknown, or older than 15 days).
 */
export const getOrderStatus = async (
  services: Pick<StateServices, 'redis'>,
  orderId: string,
): Promise<OrderState> => {
  const keys = orderKeys(identifier('orderId', orderId));
  const [result, error, processing, lasting] = await requireRedis(services, 'orders').client.mget<
    [OrderState | null, OrderState | null, OrderState | null, OrderState | null]
  >(keys.result, keys.error, keys.processing, keys.state);
  const state = result ?? error ?? processing ?? lasting;
  if (!state) throw orderNotFound(orderId);
  return state;
};
