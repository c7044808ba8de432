import {
  KafkaAuthenticationError,
  KafkaAuthorizationError,
  KafkaMessageTooLargeError,
  KafkaSendError,
  KafkaUnavailableError,
} from '../errors.ts';

type KafkaJsError = Error & { type?: string; originalError?: unknown; cause?: unknown };

/** The error and every error it wraps (kafkajs nests them in `originalError` and `cause`). */
const causeChain = (error: unknown): KafkaJsError[] => {
  const chain: KafkaJsError[] = [];
  let current: unknown = error;
  while (current instanceof Error && chain.length < 10) {
    chain.push(current as KafkaJsError);
    const next = (current as KafkaJsError).originalError ?? (current as KafkaJsError).cause;
    current = next;
  }
  return chain;
};

const UNAVAILABLE = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNumberOfRetriesExceeded',
]);

/**
 * Whether a failure says the brokers refused new connections (nothing listens: they are down),
 * as opposed to a connection that was dropped under us, which a fresh connection may fix.
 */
export const isConnectionRefused = (error: unknown): boolean =>
  causeChain(error).some(
    (e) => /ECONNREFUSED/.test(e.message) || (e as { code?: string }).code === 'ECONNREFUSED',
  );

/**
 * Maps a kafkajs failure to the error a caller can act on. The most specific cause wins:
 * an authentication or size problem buried under "retries exceeded" is still reported as such.
 */
export const classifyKafkaError = (error: unknown, topic: string): KafkaSendError => {
  if (error instanceof KafkaSendError) return error;
  const chain = causeChain(error);
  const has = (predicate: (e: KafkaJsError) => boolean) => chain.some(predicate);
  const detail = chain.at(-1)?.message ?? String(error);
  if (has((e) => e.name === 'KafkaJSSASLAuthenticationError')) {
    return new KafkaAuthenticationError(
      `Kafka rejected the SASL credentials (${detail}); check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`,
      topic,
      { cause: error },
    );
  }
  if (
    has((e) => e.type === 'TOPIC_AUTHORIZATION_FAILED' || e.type === 'CLUSTER_AUTHORIZATION_FAILED')
  ) {
    return new KafkaAuthorizationError(
      `Not authorized to write to topic "${topic}"; grant the producer's principal Write on it`,
      topic,
      { cause: error },
    );
  }
  if (has((e) => e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE')) {
    return new KafkaMessageTooLargeError(
      `A message for topic "${topic}" is larger than the broker accepts (message.max.bytes); send less per message`,
      topic,
      { cause: error },
    );
  }
  if (
    has(
      (e) =>
        UNAVAILABLE.has(e.name) ||
        /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|disconnected|not connected/i.test(e.message),
    )
  ) {
    return new KafkaUnavailableError(
      `Kafka is unreachable (${detail}); check that the brokers in KAFKA_BROKERS / MSK_CLUSTER_ARN are up and reachable`,
      topic,
      { cause: error },
    );
  }
  return new KafkaSendError(`Sending to topic "${topic}" failed: ${detail}`, topic, {
    cause: error,
  });
};
