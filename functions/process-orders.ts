import { handleRecordsInOrder, kafkaHandler } from '../lib/lambda/consumer.ts';
import { processOrder } from '../lib/orders/orders.ts';
import { orderEventSchema } from '../lib/orders/schema.ts';
import { getServices } from '../lib/services.ts';

/** orders -> each order processed once, per partition in offset order; partial-batch response. */
export const handler = kafkaHandler('processOrders', (event, { recordFailed }) =>
  handleRecordsInOrder(
    event,
    async (record) => {
      await processOrder(getServices(), orderEventSchema.parse(record.value));
    },
    recordFailed,
  ),
);
