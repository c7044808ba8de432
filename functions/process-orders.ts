import type { MSKEvent } from 'aws-lambda';
import { handleRecordsInOrder } from '../lib/lambda/consumer.ts';
import { processOrder } from '../lib/orders/orders.ts';
import { orderEventSchema } from '../lib/orders/schema.ts';
import { getServices } from '../lib/services.ts';

/** orders -> each order processed once, per partition in offset order; partial-batch response. */
export const handler = (event: MSKEvent) =>
  handleRecordsInOrder(
    event,
    async (record) => {
      await processOrder(getServices(), orderEventSchema.parse(record.value));
    },
    ({ position, error }) =>
      console.error(
        JSON.stringify({
          level: 'ERROR',
          function: 'processOrders',
          record: position,
          error: String(error),
        }),
      ),
  );
