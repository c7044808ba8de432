import { NotFoundError } from '../errors.ts';
import { identifier, orderKeys } from '../keys.ts';
import { requireRedis } from '../redis/service.ts';
import type { StateServices } from '../state-services.ts';
import type { OrderStatus } from './schema.ts';

/**
 * The read side of orders, and the state record both sides write, apart from create-order.ts
 * and process-order.ts so GET /orders/{id} bundles no Kafka client.
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

/**
 * `order:{id}:state`: the order's status in a few bytes, kept TTL.orderState (15 days) so GET
 * answers a true status for as long as the order's event can come back (parked in the fallback
 * list past the 5 minutes of the pending state, or long after the result's hour), and so a
 * redelivery of a processed order is recognised for as long.
 */
export interface OrderStateRecord {
  orderId: string;
  userId: string;
  status: OrderStatus;
  /** When the order reached this status, ISO 8601. */
  updatedAt: string;
  /** failed: why. */
  error?: string;
  /**
   * failed: the order's processing kept throwing and it went to `orders.dlq`; a replay of the
   * dead letter may still process it, so this failure does not mark it done.
   */
  deadLettered?: true;
}

export const stateOf = (
  order: { orderId: string; userId: string },
  status: OrderStatus,
  failure: { error: string; deadLettered?: true } | Record<string, never> = {},
  updatedAt: string = new Date().toISOString(),
): OrderStateRecord => ({
  orderId: order.orderId,
  userId: order.userId,
  status,
  updatedAt,
  ...failure,
});
