import {
  type ConsumerDeps,
  handleRecordsInOrder,
  kafkaHandler,
  type RecordSettler,
} from '../lib/lambda/consumer.ts';
import { decodeRecord } from '../lib/lambda/kafka-event.ts';
import type { OrderStep } from '../lib/orders/order-step.ts';
import { failOrder, processOrder } from '../lib/orders/orders.ts';
import { type OrderEvent, orderEventSchema } from '../lib/orders/schema.ts';
import { getServices } from '../lib/services.ts';

/** The order a record holds, or undefined when it holds none (it was dead-lettered as such). */
const orderIn = (source: Parameters<RecordSettler>[0]): OrderEvent | undefined => {
  try {
    const parsed = orderEventSchema.safeParse(decodeRecord(source).value);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The consumer's dead-lettering, then, for an order it dead-lettered, failOrder: the order
 * gets its error instead of a processing state that expires. When that write fails the record
 * is reported failed: delivered again, it is tried and dead-lettered again (dead letters are at
 * least once) until its error is recorded.
 */
const recordingOrderFailures =
  (deps: Parameters<typeof failOrder>[0], settle: RecordSettler): RecordSettler =>
  async (source, error) => {
    const settlement = await settle(source, error);
    const order = settlement.outcome === 'dead-lettered' ? orderIn(source) : undefined;
    if (settlement.outcome !== 'dead-lettered' || !order) return settlement;
    try {
      await failOrder(deps, order, error, settlement.attempts);
      return settlement;
    } catch (cause) {
      return {
        outcome: 'retry',
        attempts: settlement.attempts,
        reason: `it went to ${settlement.topic}, but the order's error could not be recorded (${cause instanceof Error ? cause.message : String(cause)})`,
      };
    }
  };

/**
 * orders -> each order processed once (a redelivered order finds its state and does nothing),
 * per partition in offset order; a record that is not an order, or whose processing keeps
 * failing, goes to `orders.dlq` (an order then gets its error); partial-batch response for the
 * rest.
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
      {
        deadLetters: recordingOrderFailures(deps, deadLetters(deps, maxAttempts)),
        ...(hooks ? { hooks } : {}),
      },
    );
  });

export const handler = processOrders({ services: getServices });
