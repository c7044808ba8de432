import type { MSKRecord } from 'aws-lambda';
import type { Settlement } from '../kafka/dead-letters.ts';
import { decodeRecord } from '../lambda/kafka-event.ts';
import type { Services } from '../services.ts';
import { failOrder } from './process-order.ts';
import { type OrderEvent, orderEventSchema } from './schema.ts';

type RecordSettler = (source: MSKRecord, error: unknown) => Promise<Settlement>;

/** The order a record holds, or undefined when it holds none (it was dead-lettered as such). */
const orderIn = (source: MSKRecord): OrderEvent | undefined => {
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
export const recordingOrderFailures =
  (settle: RecordSettler, deps: Pick<Services, 'redis'>): RecordSettler =>
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
