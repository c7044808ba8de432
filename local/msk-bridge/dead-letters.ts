import type { IHeaders, Producer } from 'kafkajs';
import { deadLetterOf } from '../../lib/kafka/dead-letters.ts';
import { CORRELATION_ID_HEADER } from '../../lib/kafka/producer.ts';
import type { KafkaEventRecord } from '../../lib/lambda/kafka-event-builder.ts';
import { describeRecords, type OnRetriesExhausted } from './mapping-runner.ts';
import type { Log } from './types.ts';

/** The record's correlation id header, carried over so the dead letter can be followed. */
const correlationHeader = (record: KafkaEventRecord): IHeaders => {
  for (const header of record.headers) {
    const bytes = header[CORRELATION_ID_HEADER];
    if (bytes) return { [CORRELATION_ID_HEADER]: Buffer.from(bytes) };
  }
  return {};
};

/**
 * The stand-in for a `kafka://<topic>` on-failure destination: records the mapping gave up on
 * are written to `topic`, keyed by their original key bytes, each value the project's dead
 * letter (lib/kafka/dead-letters.ts: original bytes, source position, error, attempts), acks=all.
 * A failed write throws, so the bridge keeps the records and retries them: never dropped.
 */
export const deadLetterTo =
  (producer: () => Promise<Producer>, topic: string, log: Log): OnRetriesExhausted =>
  async (records, error, { mapping, attempts }) => {
    await (await producer()).send({
      topic,
      acks: -1,
      messages: records.map((record) => ({
        key: record.key === undefined ? null : Buffer.from(record.key, 'base64'),
        value: JSON.stringify(
          deadLetterOf(record, { error, attempts, consumer: mapping.functionName }),
        ),
        headers: correlationHeader(record),
      })),
    });
    log(
      'error',
      `${mapping.functionKey}: gave up on ${describeRecords(records)} after ${attempts} attempts (${error.message}); wrote them to ${topic}`,
    );
  };
