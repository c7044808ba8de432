import type { Context } from 'aws-lambda';
import {
  DEFAULT_MAX_ATTEMPTS,
  type DeadLetterDeps,
  settleFailedRecord,
} from '../../kafka/dead-letters.ts';
import { loggableError, logger } from '../../log.ts';
import type { KafkaBatchResponse } from '../batch-response.ts';
import { withInvocationLog } from '../invocation-log.ts';
import type { KafkaEvent, RecordPosition } from '../kafka-event.ts';
import { countProcessed, summarizeBatch } from './batch-summary.ts';
import type { RecordFailure, RecordSettler } from './record-failure.ts';

/** What a consumer handler gets besides its event. */
export interface ConsumerInvocation {
  /** The function's name: in log lines, dead letters and attempt counts. */
  name: string;
  /**
   * Logs one failed record as an error line: the function, the record (`orders-0:17`), its
   * correlation id, the batch's correlation ids, why it was not dead-lettered and the error.
   * Pass it as `onFailure`.
   */
  recordFailed: (failure: RecordFailure) => void;
  /**
   * The dead-lettering of this function over `deps` (lib/kafka/dead-letters.ts), logging each
   * dead-lettered record as an error line. Pass it as `deadLetters`.
   */
  deadLetters: (deps: DeadLetterDeps, maxAttempts?: number) => RecordSettler;
}

export type KafkaHandler = (event: KafkaEvent, context?: Context) => Promise<KafkaBatchResponse>;

/**
 * A Kafka (MSK or self-managed) consumer handler around `handle`. Each invocation writes one
 * `invocation` line: the function, each partition's offset range, the batch's correlation ids
 * (from the records' `x-correlation-id` headers, so a request can be followed from its HTTP
 * line), records / processed / failed (and dead_lettered) counts, duration and cold start; info
 * when every record went through, warn with failed or dead-lettered records, error when the
 * handler threw (the whole batch is retried). No record value is logged.
 */
export const kafkaHandler =
  (
    name: string,
    handle: (event: KafkaEvent, invocation: ConsumerInvocation) => Promise<KafkaBatchResponse>,
  ): KafkaHandler =>
  (event, context) => {
    const batch = summarizeBatch(event);
    const correlation = {
      correlation_ids: batch.correlationIds,
      ...(batch.moreCorrelationIds > 0 ? { correlation_ids_more: batch.moreCorrelationIds } : {}),
    };
    const recordFields = (position: RecordPosition) => ({
      function: name,
      record: `${position.topic}-${position.partition}:${position.offset}`,
      correlation_id: batch.correlationIdAt(position),
      ...correlation,
    });
    const recordFailed = ({ position, error, reason }: RecordFailure) =>
      logger.error(
        {
          message: 'record failed',
          ...recordFields(position),
          ...(reason === undefined ? {} : { not_dead_lettered_because: reason }),
        },
        { error: loggableError(error) },
      );
    let deadLettered = 0;
    const deadLetters =
      (deps: DeadLetterDeps, maxAttempts = DEFAULT_MAX_ATTEMPTS): RecordSettler =>
      async (source, error) => {
        const settlement = await settleFailedRecord(
          deps,
          { consumer: name, maxAttempts },
          source,
          error,
        );
        if (settlement.outcome === 'dead-lettered') {
          deadLettered += 1;
          logger.error(
            {
              message: 'record dead-lettered',
              ...recordFields(source),
              dead_letter_topic: settlement.topic,
              attempts: settlement.attempts,
            },
            { error: loggableError(error) },
          );
        }
        return settlement;
      };
    return withInvocationLog(
      { context, keys: { function: name, ...correlation }, fields: { batch: batch.ranges } },
      () => handle(event, { name, recordFailed, deadLetters }),
      (response) => {
        const failed = response.batchItemFailures.length;
        return {
          level: failed > 0 || deadLettered > 0 ? 'warn' : 'info',
          fields: {
            records: batch.records,
            processed: countProcessed(event, response),
            failed,
            ...(deadLettered > 0 ? { dead_lettered: deadLettered } : {}),
          },
        };
      },
    );
  };
