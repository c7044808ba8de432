import { getConsumerServices } from '../lib/consumer-services.ts';
import { type ConsumerDeps, kafkaConsumer } from '../lib/lambda/consumer/kafka-consumer.ts';
import { recordingOrderFailures } from '../lib/orders/order-failures.ts';
import type { OrderStep } from '../lib/orders/order-step.ts';
import { claimOrders } from '../lib/orders/process-order.ts';
import { type OrderEvent, orderEventSchema } from '../lib/orders/schema.ts';
import * as z from '../lib/zod.ts';

/**
 * orders -> each order processed once (a redelivered order finds its state and does nothing),
 * per partition in offset order, the batch's orders claimed in one Redis request and their
 * results written in one more; a record that is not an order, or whose processing keeps
 * failing, goes to `orders.dlq` (an order then gets its error); partial-batch response for the
 * rest.
 */
export const processOrders = ({ step, ...deps }: ConsumerDeps & { step?: OrderStep }) =>
  kafkaConsumer<unknown, OrderEvent>({
    name: 'processOrders',
    mode: 'claimed-in-order',
    ...deps,
    parse: (record) => z.parse(orderEventSchema, record.value),
    claim: (orders, services) => claimOrders(services, orders, step),
    settleWith: recordingOrderFailures,
  });

export const handler = processOrders({ services: getConsumerServices });
