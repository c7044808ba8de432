import { offlineInvoker } from '../../local/msk-bridge/invokers.ts';
import type { EmbeddedConfig } from '../config.ts';
import { type EmbeddedDelivery, startEmbeddedDelivery } from './kafka-delivery.ts';
import { EmbeddedKafkaLog } from './kafka-log.ts';

/** The embedded Kafka of this process: the log, and its delivery to the mapped consumers. */
export interface EmbeddedKafka {
  log: EmbeddedKafkaLog;
  /** Undefined when no consumer is mapped (NARAD_EMBEDDED_MAPPINGS is empty). */
  delivery: EmbeddedDelivery | undefined;
}

// On globalThis for the reason given in redis-runtime.ts: one log for every function bundle.
const KAFKA = Symbol.for('narad.embedded.kafka');

type Holder = { [KAFKA]?: EmbeddedKafka };

const createEmbeddedKafka = (config: EmbeddedConfig): EmbeddedKafka => {
  const log = new EmbeddedKafkaLog();
  const delivery =
    config.lambdaUrl !== undefined && config.mappings.length > 0
      ? startEmbeddedDelivery({
          log,
          mappings: config.mappings,
          invoke: offlineInvoker({ lambdaUrl: config.lambdaUrl }),
        })
      : undefined;
  return { log, delivery };
};

/** This process's embedded Kafka, created (and its delivery started) on first use. */
export const embeddedKafka = (config: EmbeddedConfig): EmbeddedKafka => {
  const holder = globalThis as Holder;
  holder[KAFKA] ??= createEmbeddedKafka(config);
  return holder[KAFKA];
};
