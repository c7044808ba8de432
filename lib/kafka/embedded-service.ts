import { randomUUID } from 'node:crypto';
import type { KafkaLogWriter } from '../embedded-parts.ts';
import { type KafkaService, singleMessage, toKafkaMessages } from './producer.ts';

/**
 * The Kafka service over embedded mode's in-memory log (lib/embedded-parts.ts): the same
 * validation, keys, headers and correlation id as the kafkajs producer, and a send is
 * acknowledged once the records are in the log. It stays in lib/, beside the producer, so the
 * errors a send throws are the function bundle's own classes, which its handlers recognise.
 */
export const createEmbeddedKafkaService = (log: KafkaLogWriter): KafkaService => {
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
