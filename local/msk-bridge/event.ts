import type { KafkaMessage } from 'kafkajs';
import type { KafkaBridgeEvent, KafkaEventRecord, KafkaMapping } from './types.ts';

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
  mapping: Pick<KafkaMapping, 'eventSource' | 'eventSourceArn'>,
  bootstrapServers: string,
  records: readonly KafkaEventRecord[],
): KafkaBridgeEvent => {
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
