import { type ConsumerDeps, handleRecordsInOrder, kafkaHandler } from '../lib/lambda/consumer.ts';
import type { OrderStep } from '../lib/orders/order-step.ts';
import { processOrder } from '../lib/orders/orders.ts';
import { orderEventSchema } from '../lib/orders/schema.ts';
import { getServices } from '../lib/services.ts';

/**
 * orders -> each order processed once (a redelivered order finds its result and does nothing),
 * per partition in offset order; a record that is not an order, or whose processing keeps
 * failing, goes to `orders.dlq`; partial-batch response for the rest.
 */
export const processOrders = ({
  services,
  maxAttempts,
  hooks,
  step,
}: ConsumerDeps & { step?: OrderStep }) =>
  kafkaHandler('processOrders', (event, { recordFailed, deadLetters }) => {
    const deps = services();
    return handleRecordsInOrder(
      event,
      async (record) => {
        await processOrder(deps, orderEventSchema.parse(record.value), step);
      },
      recordFailed,
      { deadLetters: deadLetters(deps, maxAttempts), ...(hooks ? { hooks } : {}) },
    );
  });

export const handler = processOrders({ services: getServices });
