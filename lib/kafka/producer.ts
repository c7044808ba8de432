import { randomUUID } from 'node:crypto';
import {
  type IHeaders,
  type Kafka,
  type Message,
  Partitioners,
  type Producer,
  type RecordMetadata,
} from 'kafkajs';
import { budgetMs } from '../deadline.ts';
import { KafkaDeliveryUnknownError, KafkaUnavailableError, ValidationError } from '../errors.ts';
import { classifyKafkaError, isConnectionRefused } from './errors.ts';
import { CORRELATION_ID_HEADER, POSSIBLE_DUPLICATE_HEADER } from './record-headers.ts';

/** One message to send: a JSON value, an optional key and optional string headers. */
export interface OutgoingMessage {
  value: unknown;
  key?: string;
  headers?: Record<string, string>;
}

export interface SendOptions {
  /** Applied to every message that has no key of its own. */
  key?: string;
  /** Added to every message's headers. */
  headers?: Record<string, string>;
  /** Carried as the `x-correlation-id` header; a new one is made when absent. */
  correlationId?: string;
  /**
   * Time to keep back from the invocation's deadline for what the caller must do after a failed
   * send (sendWithFallback: the fallback write). The send gives up in time for it.
   */
  reserveMs?: number;
  /**
   * Runs before the re-send on a new producer (after a reset), with the messages: the first
   * attempt may have reached the broker, so the caller can tell whoever counts them that a
   * second copy is coming (sendWithFallback holds analytics events, lib/analytics/dedup.ts).
   * Its failure does not stop the re-send, whose copy is marked in any case.
   */
  beforeResend?: (messages: OutgoingMessage[]) => Promise<void>;
}

export interface SendResult {
  topic: string;
  count: number;
  correlationId: string;
  partitions: Array<{ partition: number; baseOffset: string }>;
}

/**
 * A message for `send`: any JSON value but an array. An array is refused, so a batch meant for
 * `sendBatch` can never go out as one message holding the list.
 */
export type SingleMessage<T> = T extends readonly unknown[] ? never : T;

/** The design document's `kafkaService`, one per Lambda container. */
export interface KafkaService {
  /**
   * The design's `send(topic, message)`: sends `message` (any JSON value but an array) as one
   * record with acks=all, and resolves once the brokers acknowledged it. The key and headers
   * are options.
   * @throws ValidationError for a bad topic name, an array, or a value that is not JSON.
   * @throws KafkaSendError (KafkaUnavailableError, KafkaAuthenticationError,
   *   KafkaAuthorizationError, KafkaMessageTooLargeError) when Kafka did not take it.
   */
  send<T>(topic: string, message: SingleMessage<T>, options?: SendOptions): Promise<SendResult>;
  /**
   * Sends several messages, each with its own key and headers, in one request; resolves once
   * the brokers acknowledged every one. Throws as `send`.
   */
  sendBatch(topic: string, messages: OutgoingMessage[], options?: SendOptions): Promise<SendResult>;
  /** Connects the producer now (the first send would); sends work without it. */
  connect(): Promise<void>;
  /** True while the producer holds connections to the cluster (the design's property). */
  readonly isConnected: boolean;
  /** Flushes nothing (sends are awaited) and closes the producer's connections. */
  disconnect(): Promise<void>;
}

/**
 * The one message of a `send`, refused when it is an array (compile time catches that in
 * TypeScript; this catches it from JavaScript).
 * @throws ValidationError naming sendBatch.
 */
export const singleMessage = (topic: string, message: unknown): OutgoingMessage[] => {
  if (Array.isArray(message)) {
    throw new ValidationError(
      `send() to topic "${topic}" takes one message, not an array; send several with sendBatch(topic, [{value, key, headers}, ...])`,
    );
  }
  return [{ value: message }];
};

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

const encodeValue = (value: unknown, topic: string, index: number): string => {
  const encoded = value === undefined ? undefined : JSON.stringify(value);
  if (encoded === undefined) {
    throw new ValidationError(`Message ${index} for topic "${topic}" has no JSON value`);
  }
  return encoded;
};

/** The kafkajs messages for a send: JSON values, keys, headers with the correlation id. */
export const toKafkaMessages = (
  topic: string,
  messages: OutgoingMessage[],
  { key, headers, correlationId }: SendOptions & { correlationId: string },
): Message[] => {
  if (!TOPIC_NAME.test(topic)) {
    throw new ValidationError(`Topic name "${topic}" is invalid: use 1-249 of A-Z a-z 0-9 . _ -`);
  }
  if (messages.length === 0) throw new ValidationError(`No messages to send to topic "${topic}"`);
  return messages.map((message, index) => {
    const messageHeaders: IHeaders = {
      ...headers,
      ...message.headers,
      // A message that already carries one (a replay from the fallback list) keeps its own.
      [CORRELATION_ID_HEADER]: message.headers?.[CORRELATION_ID_HEADER] ?? correlationId,
    };
    return {
      key: message.key ?? key ?? null,
      value: encodeValue(message.value, topic, index),
      headers: messageHeaders,
    };
  });
};

const summarize = (
  topic: string,
  count: number,
  correlationId: string,
  records: RecordMetadata[],
): SendResult => ({
  topic,
  count,
  correlationId,
  partitions: records.map(({ partition, baseOffset }) => ({
    partition,
    baseOffset: baseOffset ?? '',
  })),
});

export interface ProducerSettings {
  /** The design's acks=all + idempotence; turned off only where the cluster forbids it. */
  idempotent: boolean;
  allowAutoTopicCreation: boolean;
  /** The profile's retry settings, for the producer's sends (the client has its own for connecting). */
  retry: { initialRetryTimeMs: number; retries: number };
  /**
   * After Kafka proved unreachable, how long sends fail at once instead of waiting out the
   * retries again: during an outage every request would otherwise pay that wait before its
   * fallback. The first send after the pause tries the brokers again.
   */
  outagePauseMs?: number;
  /** For tests: the clock the pause is measured with. */
  now?: () => number;
}

export const DEFAULT_OUTAGE_PAUSE_MS = 2_000;

/**
 * The Kafka service of one Lambda container: one producer, created and connected on the first
 * send and reused by every later invocation. If the brokers dropped its connections while the
 * container was idle (they close idle ones after ~10 minutes), the send reconnects once and
 * tries again instead of failing.
 */
export const createKafkaService = (kafka: Kafka, settings: ProducerSettings): KafkaService => {
  const { outagePauseMs = DEFAULT_OUTAGE_PAUSE_MS, now = Date.now } = settings;
  let producer: Promise<Producer> | undefined;
  let unreachableSince: number | undefined;
  let connected = false;

  const connect = (): Promise<Producer> => {
    producer ??= (async () => {
      const created = kafka.producer({
        // Java-compatible murmur2 partitioning, chosen on purpose (kafkajs warns when it is implicit).
        createPartitioner: Partitioners.DefaultPartitioner,
        idempotent: settings.idempotent,
        allowAutoTopicCreation: settings.allowAutoTopicCreation,
        retry: {
          initialRetryTime: settings.retry.initialRetryTimeMs,
          retries: settings.retry.retries,
        },
      });
      created.on(created.events.CONNECT, () => {
        connected = true;
      });
      created.on(created.events.DISCONNECT, () => {
        connected = false;
      });
      await created.connect();
      return created;
    })();
    producer.catch(() => {
      producer = undefined;
    });
    return producer;
  };

  const reset = async () => {
    const current = producer;
    producer = undefined;
    connected = false;
    await current?.then((p) => p.disconnect()).catch(() => undefined);
  };

  /** A failure as the caller sees it; an outage also starts the pause. */
  const noteFailure = (error: unknown, topic: string) => {
    const failure = classifyKafkaError(error, topic);
    if (failure instanceof KafkaUnavailableError) unreachableSince = now();
    return failure;
  };

  /**
   * Runs one attempt within what is left of the invocation (deadline.ts), less the caller's
   * reserve. Past that the attempt is abandoned: as unreachable while no connection was made
   * (nothing can have been sent), as KafkaDeliveryUnknownError once the records were handed to
   * a connected producer (the brokers may have appended them). The abandoned producer is reset
   * so the next send starts from fresh connections.
   */
  const withinBudget = async <T>(
    topic: string,
    reserveMs: number,
    attempt: (progress: { connected: boolean }) => Promise<T>,
  ): Promise<T> => {
    const progress = { connected: false };
    const budget = budgetMs(Number.POSITIVE_INFINITY, reserveMs);
    if (!Number.isFinite(budget)) return attempt(progress);
    const running = attempt(progress);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        running.catch(() => undefined);
        void reset();
        reject(
          progress.connected
            ? new KafkaDeliveryUnknownError(
                `Kafka did not acknowledge the send to "${topic}" within the ${budget} ms the invocation had left; the brokers may have appended it (check that they are healthy)`,
                topic,
              )
            : new KafkaUnavailableError(
                `Kafka could not be reached within the ${budget} ms the invocation had left (check KAFKA_BROKERS / MSK_CLUSTER_ARN, the security groups, and that the brokers are up)`,
                topic,
              ),
        );
      }, budget);
    });
    try {
      return await Promise.race([running, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  };

  const sendBatch: KafkaService['sendBatch'] = async (topic, list, options = {}) => {
    const correlationId = options.correlationId ?? randomUUID();
    const messages = toKafkaMessages(topic, list, { ...options, correlationId });
    if (unreachableSince !== undefined && now() - unreachableSince < outagePauseMs) {
      throw new KafkaUnavailableError(
        `Kafka was unreachable ${now() - unreachableSince} ms ago; not waiting on it again for ${outagePauseMs} ms (check KAFKA_BROKERS / MSK_CLUSTER_ARN and that the brokers are up)`,
        topic,
      );
    }
    const reserveMs = options.reserveMs ?? 0;
    const attempt = (batch: Message[]) =>
      withinBudget(topic, reserveMs, async (progress) => {
        const connected = await connect();
        progress.connected = true;
        const records = await connected.send({ topic, messages: batch, acks: -1 });
        unreachableSince = undefined;
        return summarize(topic, list.length, correlationId, records);
      });
    const warm = producer !== undefined;
    try {
      return await attempt(messages);
    } catch (first) {
      const failure = classifyKafkaError(first, topic);
      // A warm producer's dropped connection looks like an outage; one fresh producer tells
      // the two apart. A cold one just failed to connect, and brokers that refuse connections
      // are down: retrying would only double the wait. An attempt that ran out of time is not
      // retried: there is no time left for it.
      if (
        !(failure instanceof KafkaUnavailableError) ||
        failure instanceof KafkaDeliveryUnknownError ||
        !warm ||
        isConnectionRefused(first) ||
        budgetMs(Number.POSITIVE_INFINITY, reserveMs) === 0
      ) {
        throw noteFailure(first, topic);
      }
      await reset();
      await options.beforeResend?.(list).catch(() => undefined);
      // The first attempt may have reached the broker: the new producer's copy is marked.
      const marked = messages.map((message) => ({
        ...message,
        headers: { ...message.headers, [POSSIBLE_DUPLICATE_HEADER]: '1' },
      }));
      try {
        return await attempt(marked);
      } catch (second) {
        throw noteFailure(second, topic);
      }
    }
  };

  return {
    send: async (topic, message, options) =>
      sendBatch(topic, singleMessage(topic, message), options),
    sendBatch,
    async connect() {
      await connect();
    },
    get isConnected() {
      return connected;
    },
    disconnect: reset,
  };
};
