import { type Config, loadConfig } from './config.ts';
import { lazyKafkaService } from './kafka/lazy-service.ts';
import type { ConsumerServices } from './lambda/consumer/kafka-consumer.ts';
import { createStateServices } from './state-services.ts';

/**
 * The services of a Kafka consumer: Redis for its state, and Kafka only for its dead letters.
 * The event-source mapping reads the topics, so a consumer that handles every record never
 * talks to Kafka itself; its Kafka service (with kafkajs) is loaded by the first dead letter,
 * which keeps kafkajs's load (about half of a consumer's cold start) off every cold start.
 */
export const createConsumerServices = (config: Config): ConsumerServices => ({
  redis: createStateServices(config).redis,
  kafka:
    config.kafka.kind === 'none'
      ? undefined
      : lazyKafkaService(async () => {
          const { createKafkaServiceFor } = await import('./services.ts');
          const kafka = createKafkaServiceFor(config);
          if (!kafka) throw new Error(`no Kafka service for KAFKA kind ${config.kafka.kind}`);
          return kafka;
        }),
});

let services: ConsumerServices | undefined;

/**
 * The consumer services of this Lambda container, built on first use and reused by later
 * invocations.
 * @throws ConfigError when the environment is invalid.
 */
export const getConsumerServices = (): ConsumerServices => {
  services ??= createConsumerServices(loadConfig());
  return services;
};
