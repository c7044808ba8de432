import type { EmbeddedParts } from '../../lib/embedded-parts.ts';
import { offlineInvoker } from '../msk-bridge/invokers.ts';
import { type EmbeddedDelivery, startEmbeddedDelivery } from './kafka-delivery.ts';
import { EmbeddedKafkaLog } from './kafka-log.ts';
import { Keyspace } from './redis-keyspace.ts';
import { embeddedRequester } from './redis-requester.ts';
import { type EmbeddedKafkaSettings, embeddedKafkaSettings } from './settings.ts';

/** The embedded Kafka of this process: the log, and its delivery to the mapped consumers. */
export interface EmbeddedKafka {
  log: EmbeddedKafkaLog;
  /** Undefined when no consumer is mapped (NARAD_EMBEDDED_MAPPINGS is empty). */
  delivery: EmbeddedDelivery | undefined;
}

const startEmbeddedKafka = (config: EmbeddedKafkaSettings): EmbeddedKafka => {
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

/**
 * This process's embedded Redis and Kafka, each created on first use: one keyspace and one log
 * for every function (lib/embedded-parts.ts says why that matters under serverless offline).
 */
export const createEmbeddedParts = (): EmbeddedParts => {
  let keyspace: Keyspace | undefined;
  let kafka: EmbeddedKafka | undefined;
  return {
    redisRequester: (findScript) => {
      keyspace ??= new Keyspace();
      return embeddedRequester(keyspace, findScript);
    },
    kafkaLog: () => {
      kafka ??= startEmbeddedKafka(embeddedKafkaSettings());
      return kafka.log;
    },
  };
};
