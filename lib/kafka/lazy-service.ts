import type { KafkaService } from './producer.ts';

/**
 * A KafkaService that builds the real one (`load`) on its first use. For code that needs Kafka
 * only on a rare path, such as a consumer's dead letters: the module behind `load` (kafkajs,
 * about 260 KB) is then loaded by the first dead letter instead of by every cold start. A load
 * that fails is tried again by the next use.
 */
export const lazyKafkaService = (load: () => Promise<KafkaService>): KafkaService => {
  let loading: Promise<KafkaService> | undefined;
  let loaded: KafkaService | undefined;
  const service = () => {
    loading ??= load().then(
      (built) => {
        loaded = built;
        return built;
      },
      (error: unknown) => {
        loading = undefined;
        throw error;
      },
    );
    return loading;
  };
  return {
    send: async (topic, message, options) => (await service()).send(topic, message, options),
    sendBatch: async (topic, messages, options) =>
      (await service()).sendBatch(topic, messages, options),
    connect: async () => (await service()).connect(),
    get isConnected() {
      return loaded?.isConnected ?? false;
    },
    // Nothing to close before the first use; closing must not load kafkajs just to close it.
    disconnect: async () => loaded?.disconnect(),
  };
};
