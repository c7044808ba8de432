import type { Services } from '../../services.ts';
import type { KafkaRecord } from '../kafka-event.ts';
import { type ClaimedBatch, handleClaimedInOrder } from './claimed-in-order.ts';
import { type KafkaHandler, kafkaHandler } from './handler.ts';
import { handleRecordsInOrder } from './in-order.ts';
import type { ConsumerHooks, RecordSettler } from './record-failure.ts';
import { handleBatchAtOnce, type PartitionSlice } from './whole-batch.ts';

/** What a consumer's work reaches: Redis for its state, Kafka for its dead letters. */
export type ConsumerServices = Pick<Services, 'kafka' | 'redis'>;

/** What a consumer function is built from; tests build one around their own services. */
export interface ConsumerDeps {
  /** The services of the container (getServices in Lambda), read once per invocation. */
  services: () => ConsumerServices;
  /** Attempts at a record that keeps failing before it is dead-lettered. */
  maxAttempts?: number;
  hooks?: ConsumerHooks;
}

/** How a consumer goes through a batch, and what it does with it. */
export type ConsumerWork<T, U = unknown> =
  /** Record by record, each partition in offset order (in-order.ts). */
  | {
      mode: 'in-order';
      handle: (record: KafkaRecord<T>, services: ConsumerServices) => Promise<void>;
    }
  /** The usable records of every partition in one step, idempotent per offset range (whole-batch.ts). */
  | {
      mode: 'whole-batch';
      handle: (slices: PartitionSlice<T>[], services: ConsumerServices) => Promise<void>;
      /** Why a decoded value is unusable (it is dead-lettered), or undefined when it is fine. */
      problemOf?: (value: unknown, record: KafkaRecord<T>) => string | undefined;
    }
  /**
   * Every record parsed and the usable ones claimed in one step, then run record by record in
   * each partition's offset order, then one write (claimed-in-order.ts).
   */
  | {
      mode: 'claimed-in-order';
      /** The record's value for `claim`; a throw makes it unusable (it is settled). */
      parse: (record: KafkaRecord<T>) => U;
      claim: (values: U[], services: ConsumerServices) => Promise<ClaimedBatch<U>>;
    };

export type KafkaConsumerOptions<T, U = unknown> = ConsumerDeps &
  ConsumerWork<T, U> & {
    name: string;
    /**
     * What else settling a record that cannot be handled takes, around the dead-letter writer
     * (processOrders records the order's error once its record is dead-lettered).
     */
    settleWith?: (settle: RecordSettler, services: ConsumerServices) => RecordSettler;
  };

/**
 * A Kafka consumer handler in one call: the invocation log line (handler.ts), the loop of
 * `mode` over the decoded records, dead-lettering of records that cannot be handled
 * (lib/kafka/dead-letters.ts) and the partial-batch response for the rest.
 */
export const kafkaConsumer = <T = unknown, U = unknown>(
  options: KafkaConsumerOptions<T, U>,
): KafkaHandler =>
  kafkaHandler(options.name, (event, { recordFailed, deadLetters }) => {
    const services = options.services();
    const settle = deadLetters(services, options.maxAttempts);
    const loop = {
      deadLetters: options.settleWith ? options.settleWith(settle, services) : settle,
      ...(options.hooks ? { hooks: options.hooks } : {}),
    };
    if (options.mode === 'in-order') {
      const { handle } = options;
      return handleRecordsInOrder<T>(
        event,
        (record) => handle(record, services),
        recordFailed,
        loop,
      );
    }
    if (options.mode === 'claimed-in-order') {
      const { parse, claim } = options;
      return handleClaimedInOrder<T, U>(
        event,
        { parse, claim: (values) => claim(values, services) },
        recordFailed,
        loop,
      );
    }
    const { handle, problemOf } = options;
    return handleBatchAtOnce<T>(event, (slices) => handle(slices, services), recordFailed, {
      ...loop,
      ...(problemOf ? { problemOf } : {}),
    });
  });
