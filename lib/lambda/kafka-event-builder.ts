import type { KafkaMessage } from 'kafkajs';

/**
 * Building `aws:kafka` / `SelfManagedKafka` events as Lambda's event-source mapping sends them,
 * from kafkajs messages: what the local MSK bridge and embedded Kafka invoke the consumers with,
 * and what tests and benchmarks feed them. Reading them is kafka-event.ts.
 */

/** A record exactly as Lambda puts it in an `aws:kafka` / `SelfManagedKafka` event. */
export interface KafkaEventRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: 'CREATE_TIME' | 'LOG_APPEND_TIME';
  /** base64; absent when the message has no key. */
  key?: string;
  /** base64; absent for a tombstone (null value). */
  value?: string;
  /** One object per header, in order: `{ name: [byte, byte, ...] }`. */
  headers: Record<string, number[]>[];
}

/** The event of an MSK mapping (`msk` in serverless.yml). */
export interface MskEventPayload {
  eventSource: 'aws:kafka';
  eventSourceArn: string;
  bootstrapServers: string;
  records: Record<string, KafkaEventRecord[]>;
}

/** The event of a self-managed Kafka mapping (`kafka` in serverless.yml). */
export interface SelfManagedKafkaEventPayload {
  eventSource: 'SelfManagedKafka';
  bootstrapServers: string;
  records: Record<string, KafkaEventRecord[]>;
}

export type KafkaEventPayload = MskEventPayload | SelfManagedKafkaEventPayload;

/** Which kind of event a mapping sends: an msk one names its cluster. */
export interface KafkaEventSource {
  eventSource: KafkaEventPayload['eventSource'];
  eventSourceArn?: string;
}

/** kafkajs keeps the record batch's attributes on each message; its types do not say so. */
type DecodedMessage = KafkaMessage & { batchContext?: { timestampType?: number } };

// kafkajs src/protocol/timestampTypes.js: 1 = LOG_APPEND_TIME (the broker's clock).
const LOG_APPEND_TIME = 1;

const bytesOf = (value: Buffer | string | null | undefined): number[] =>
  value == null ? [] : [...(typeof value === 'string' ? Buffer.from(value) : value)];

/** Headers as Lambda sends them: one `{name: bytes}` object per header, repeated names repeated. */
const headersOf = (headers: KafkaMessage['headers']): Record<string, number[]>[] =>
  Object.entries(headers ?? {}).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((one) => ({ [name]: bytesOf(one) })),
  );

/**
 * One kafkajs message as a record of an `aws:kafka` event: numbers for offset and timestamp,
 * base64 key and value (absent when null, as in AWS's own examples), byte-array headers. The
 * property order is AWS's, so the JSON matches byte for byte.
 */
export const toEventRecord = (
  topic: string,
  partition: number,
  message: KafkaMessage,
): KafkaEventRecord => ({
  topic,
  partition,
  offset: Number(message.offset),
  timestamp: Number(message.timestamp),
  timestampType:
    (message as DecodedMessage).batchContext?.timestampType === LOG_APPEND_TIME
      ? 'LOG_APPEND_TIME'
      : 'CREATE_TIME',
  ...(message.key == null ? {} : { key: message.key.toString('base64') }),
  ...(message.value == null ? {} : { value: message.value.toString('base64') }),
  headers: headersOf(message.headers),
});

/** `<topic>-<partition>`: how Lambda keys the records of a partition, and how partial responses name it. */
export const topicPartitionOf = (record: { topic: string; partition: number }): string =>
  `${record.topic}-${record.partition}`;

/**
 * The event Lambda would send for `records` (each partition in offset order): `aws:kafka` with
 * the mapping's cluster ARN for an msk mapping, `SelfManagedKafka` without one for a kafka mapping.
 */
export const buildKafkaEvent = (
  mapping: KafkaEventSource,
  bootstrapServers: string,
  records: readonly KafkaEventRecord[],
): KafkaEventPayload => {
  const grouped: Record<string, KafkaEventRecord[]> = {};
  for (const record of records) {
    const key = topicPartitionOf(record);
    grouped[key] ??= [];
    grouped[key].push(record);
  }
  return mapping.eventSource === 'aws:kafka'
    ? {
        eventSource: 'aws:kafka',
        eventSourceArn: mapping.eventSourceArn ?? '',
        bootstrapServers,
        records: grouped,
      }
    : { eventSource: 'SelfManagedKafka', bootstrapServers, records: grouped };
};
