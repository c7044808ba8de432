/**
 * The project's one error family. Every error a caller may need to tell apart is a subclass
 * of `NaradError`; `cause` is kept so the original client error survives for debugging.
 * HTTP status mapping lives in one place: `lib/lambda/http-response.ts`.
 */
export class NaradError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NaradError';
  }
}

/** An environment variable is missing, malformed or unsafe for the active profile. */
export class ConfigError extends NaradError {
  constructor(
    message: string,
    readonly variable: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** The request or record is malformed; nothing was changed. */
export class ValidationError extends NaradError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ValidationError';
  }
}

/** A backing service (Kafka, Redis) could not be reached in time. */
export class ServiceUnavailableError extends NaradError {
  constructor(
    message: string,
    readonly service: 'kafka' | 'redis' | 'user-source',
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ServiceUnavailableError';
  }
}

/** Kafka refused or failed a send; `topic` names where it was going. */
export class KafkaSendError extends NaradError {
  constructor(
    message: string,
    readonly topic: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'KafkaSendError';
  }
}

/** No broker could be reached (down, wrong address, network). Retrying later may succeed. */
export class KafkaUnavailableError extends KafkaSendError {
  override name = 'KafkaUnavailableError';
}

/**
 * The send was handed to the brokers but not acknowledged within the time the invocation had
 * left. Ambiguous: the brokers may have appended it. Treated as unavailable (the message is
 * parked in the fallback list, so it is never lost); should both copies arrive, the consumers
 * de-duplicate by the message's business key (orderId, eventId).
 */
export class KafkaDeliveryUnknownError extends KafkaUnavailableError {
  override name = 'KafkaDeliveryUnknownError';
}

/** The brokers rejected our credentials (SASL). Retrying will not help; fix the secret. */
export class KafkaAuthenticationError extends KafkaSendError {
  override name = 'KafkaAuthenticationError';
}

/** The principal may not write to the topic (ACLs / IAM policy). */
export class KafkaAuthorizationError extends KafkaSendError {
  override name = 'KafkaAuthorizationError';
}

/** A message is larger than the broker or topic accepts (message.max.bytes). */
export class KafkaMessageTooLargeError extends KafkaSendError {
  override name = 'KafkaMessageTooLargeError';
}

/** Neither Kafka nor the Redis fallback list took the message; the caller must retry. */
export class MessageNotAcceptedError extends NaradError {
  constructor(
    message: string,
    readonly topic: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'MessageNotAcceptedError';
  }
}

/** Redis could not be reached in time (network, timeout). The memory fallback may take over. */
export class RedisUnavailableError extends ServiceUnavailableError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'redis', options);
    this.name = 'RedisUnavailableError';
  }
}

/** Redis answered with an error (wrong token, wrong type, bad command). Not an outage. */
export class RedisCommandError extends NaradError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RedisCommandError';
  }
}

/** The thing asked for does not exist (or has expired). */
export class NotFoundError extends NaradError {
  override name = 'NotFoundError';
}

/** The request conflicts with an earlier one (an Idempotency-Key reused with another body). */
export class ConflictError extends NaradError {
  override name = 'ConflictError';
}

/** The request body is larger than the route accepts. */
export class PayloadTooLargeError extends ValidationError {
  override name = 'PayloadTooLargeError';
}

/** The request body is not JSON (by its content type). */
export class UnsupportedMediaTypeError extends ValidationError {
  override name = 'UnsupportedMediaTypeError';
}

/** The request carries no valid credentials (no session, an unknown or expired one). */
export class UnauthorizedError extends NaradError {
  override name = 'UnauthorizedError';
}

/** The caller is known but may not do this (another user's data, a route for users only). */
export class ForbiddenError extends NaradError {
  override name = 'ForbiddenError';
}

/** The caller made more requests than its limit allows; `retryAfterSeconds` says when to retry. */
export class TooManyRequestsError extends NaradError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TooManyRequestsError';
  }
}
