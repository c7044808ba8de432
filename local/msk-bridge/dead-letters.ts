import type { IHeaders, Message } from 'kafkajs';
import { deadLetterOf } from '../../lib/kafka/dead-letters.ts';
import { CORRELATION_ID_HEADER } from '../../lib/kafka/record-headers.ts';
import type { KafkaEventRecord } from '../../lib/lambda/kafka-event-builder.ts';
import { describeRecords } from './log.ts';
import type { Log, OnRetriesExhausted } from './types.ts';

/** Writes messages to a topic, resolving once they are stored (acks=all on a broker). */
export type TopicWriter = (topic: string, messages: Message[]) => Promise<void>;

/** The record's correlation id header, carried over so the dead letter can be followed. */
const correlationHeader = (record: KafkaEventRecord): IHeaders => {
  for (const header of record.headers) {
    const bytes = header[CORRELATION_ID_HEADER];
    if (bytes) return { [CORRELATION_ID_HEADER]: Buffer.from(bytes) };
  }
  return {};
};

/** Records given up on, as the messages of the on-failure topic. */
export const deadLetterMessages = (
  records: readonly KafkaEventRecord[],
  error: Error,
  { consumer, attempts }: { consumer: string; attempts: number },
): Message[] =>
  records.map((record) => ({
    key: record.key === undefined ? null : Buffer.from(record.key, 'base64'),
    value: JSON.stringify(deadLetterOf(record, { error, attempts, consumer })),
    headers: correlationHeader(record),
  }));

/**
 * The stand-in for a `kafka://<topic>` on-failure destination, for the broker-backed bridge and
 * embedded Kafka alike: records the mapping gave up on are written to `topic` through `write`,
 * keyed by their original key bytes, each value the project's dead letter
 * (lib/kafka/dead-letters.ts: original bytes, source position, error, attempts). A failed write
 * throws, so the mapping keeps the records and retries them: never dropped.
 */
export const deadLetterTo =
  (write: TopicWriter, topic: string, log: Log): OnRetriesExhausted =>
  async (records, error, { mapping, attempts }) => {
    await write(
      topic,
      deadLetterMessages(records, error, { consumer: mapping.functionName, attempts }),
    );
    log(
      'error',
      `${mapping.functionKey}: gave up on ${describeRecords(records)} after ${attempts} attempts (${error.message}); wrote them to ${topic}`,
    );
  };
