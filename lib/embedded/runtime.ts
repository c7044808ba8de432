import { offlineInvoker } from '../../local/msk-bridge/invokers.ts';
import type { EmbeddedConfig } from '../config.ts';
import { type EmbeddedDelivery, startEmbeddedDelivery } from './kafka-delivery.ts';
import { EmbeddedKafkaLog } from './kafka-log.ts';
import { Keyspace } from './redis-keyspace.ts';

/**
 * What embedded mode keeps in memory: the Redis keyspace and the Kafka log. Under
 * `serverless offline --useInProcess` every function runs in one process but from its own
 * bundle, with its own copy of every module, so the runtime lives on `globalThis`: one
 * keyspace and one log for all of them, whichever function touches it first.
 */
export interface EmbeddedRuntime {
  keyspace: Keyspace;
  kafka: EmbeddedKafkaLog;
  /** Undefined when no consumer is mapped (NARAD_EMBEDDED_MAPPINGS is empty). */
  delivery: EmbeddedDelivery | undefined;
}

const RUNTIME = Symbol.for('narad.embedded.runtime');

type Holder = { [RUNTIME]?: EmbeddedRuntime };

const createRuntime = (config: EmbeddedConfig): EmbeddedRuntime => {
  const kafka = new EmbeddedKafkaLog();
  const delivery =
    config.lambdaUrl !== undefined && config.mappings.length > 0
      ? startEmbeddedDelivery({
          log: kafka,
          mappings: config.mappings,
          invoke: offlineInvoker({ lambdaUrl: config.lambdaUrl }),
        })
      : undefined;
  return { keyspace: new Keyspace(), kafka, delivery };
};

/** This process's embedded runtime, created on first use. */
export const embeddedRuntime = (config: EmbeddedConfig): EmbeddedRuntime => {
  const holder = globalThis as Holder;
  holder[RUNTIME] ??= createRuntime(config);
  return holder[RUNTIME];
};
