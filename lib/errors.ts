/**
 * The project's one error family. Every error a caller may need to tell apart is a subclass
 * of `NaradError`; `cause` is kept so the original client error survives for debugging.
 * HTTP status mapping lives in one place: `lib/lambda/http.ts`.
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
    readonly service: 'kafka' | 'redis',
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ServiceUnavailableError';
  }
}
