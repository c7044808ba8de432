import { NaradError } from '../../lib/errors.ts';

/** Base of the bridge's errors; `instanceof MskBridgeError` tells them from the rest. */
export class MskBridgeError extends NaradError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MskBridgeError';
  }
}

/** An `msk` / `kafka` event in serverless.yml cannot be played locally; names the function. */
export class MappingConfigError extends MskBridgeError {
  constructor(
    message: string,
    readonly functionKey: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'MappingConfigError';
  }
}

/** The invoke target does not exist (serverless-offline answers 404 ResourceNotFoundException). */
export class FunctionNotFoundError extends MskBridgeError {
  constructor(
    readonly functionName: string,
    options?: ErrorOptions,
  ) {
    super(`Function not found: ${functionName}`, options);
    this.name = 'FunctionNotFoundError';
  }
}

/** The function ran and failed (threw, or the Invoke API reported a function error). */
export class FunctionInvocationError extends MskBridgeError {
  constructor(
    readonly functionName: string,
    readonly errorType: string,
    readonly errorMessage: string,
    options?: ErrorOptions,
  ) {
    super(`${functionName} failed: ${errorType}: ${errorMessage}`, options);
    this.name = 'FunctionInvocationError';
  }
}

/** The Invoke API could not be reached or answered something that is not an invoke result. */
export class InvokeTransportError extends MskBridgeError {
  constructor(
    readonly functionName: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(`invoking ${functionName}: ${message}`, options);
    this.name = 'InvokeTransportError';
  }
}

/**
 * The function succeeded but its partial-batch response is not the Kafka object form, or names
 * records that were not in the batch; like Lambda, the bridge retries the whole batch.
 */
export class InvalidBatchResponseError extends MskBridgeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidBatchResponseError';
  }
}

/** A record named in a valid partial-batch response (what `onRetriesExhausted` receives). */
export class RecordReportedFailedError extends MskBridgeError {
  constructor(
    readonly topicPartition: string,
    readonly offset: number,
  ) {
    super(`the function reported ${topicPartition} offset ${offset} as failed`);
    this.name = 'RecordReportedFailedError';
  }
}
