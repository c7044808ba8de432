/**
 * Failures of the local Kafka broker tooling. One base class so a caller (the stack, the CLI)
 * can catch them all; the subclasses tell which step failed. Each message says what happened
 * and what to do about it.
 */
export class LocalKafkaError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LocalKafkaError';
  }
}

/** Java or Maven is not installed (or not where JAVA_HOME / PATH say). */
export class KafkaToolMissingError extends LocalKafkaError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KafkaToolMissingError';
  }
}

/** Maven could not resolve the broker's jars. */
export class KafkaInstallError extends LocalKafkaError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KafkaInstallError';
  }
}

/** Formatting the storage or starting the broker failed, or it did not answer in time. */
export class KafkaStartError extends LocalKafkaError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KafkaStartError';
  }
}

/** The broker did not go away after SIGTERM and SIGKILL, or its port stayed open. */
export class KafkaStopError extends LocalKafkaError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KafkaStopError';
  }
}

/** The hint every "cannot run a local broker" message ends with. */
export const NO_LOCAL_BROKER_HINT =
  'install a JDK 17+ and Maven, or set KAFKA_BROKERS to an existing broker';
