import { randomUUID } from 'node:crypto';
import { type KafkaService, singleMessage, toKafkaMessages } from '../kafka/producer.ts';
import type { EmbeddedKafkaLog } from './kafka-log.ts';

/**
 * The Kafka service over the embedded log: the same validation, keys, headers and correlation
 * id as the kafkajs producer, and a send is acknowledged once the records are in the log.
 */
export const createEmbeddedKafkaService = (log: EmbeddedKafkaLog): KafkaService => {
  const sendBatch: KafkaService['sendBatch'] = async (topic, list, options = {}) => {
    const correlationId = options.correlationId ?? randomUUID();
    const appended = log.append(topic, toKafkaMessages(topic, list, { ...options, correlationId }));
    const firstOffsets = new Map<number, number>();
    for (const { partition, offset } of appended) {
      if (!firstOffsets.has(partition)) firstOffsets.set(partition, offset);
    }
    return {
      topic,
      count: list.length,
      correlationId,
      partitions: [...firstOffsets].map(([partition, offset]) => ({
        partition,
        baseOffset: String(offset),
      })),
    };
  };
  return {
    send: async (topic, message, options) =>
      sendBatch(topic, singleMessage(topic, message), options),
    sendBatch,
    connect: async () => undefined,
    // In this process: always there.
    isConnected: true,
    disconnect: async () => undefined,
  };
};
