import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { KafkaEventPayload } from '../../lib/lambda/kafka-event-builder.ts';
import { FunctionInvocationError, FunctionNotFoundError, InvokeTransportError } from './errors.ts';
import type { Invoke } from './types.ts';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null;

const parsePayload = (text: string): unknown => {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/**
 * Invokes through serverless-offline's Lambda Invoke API
 * (`POST <lambdaUrl>/2015-03-31/functions/<name>/invocations`, RequestResponse). How offline
 * answers (serverless-offline src/lambda/routes/invocations/): a handler that threw -> 200 with
 * `X-Amz-Function-Error: Unhandled` and `{errorMessage, errorType, trace}`; an unknown name ->
 * 404 with `x-amzn-ErrorType: ResourceNotFoundException`.
 */
export const offlineInvoker = ({
  lambdaUrl,
  timeoutMs = 15 * 60 * 1000,
}: {
  lambdaUrl: string;
  /** Per invocation; Lambda's own ceiling (15 min) by default. */
  timeoutMs?: number;
}): Invoke => {
  const base = lambdaUrl.replace(/\/+$/, '');
  return async (functionName, event) => {
    const url = `${base}/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-amz-invocation-type': 'RequestResponse' },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new InvokeTransportError(functionName, `${url}: ${reason}`, { cause });
    }
    const payload = parsePayload(text);
    const errorType = response.headers.get('x-amzn-errortype');
    if (response.status === 404 || errorType === 'ResourceNotFoundException') {
      throw new FunctionNotFoundError(functionName);
    }
    if (response.headers.get('x-amz-function-error') !== null) {
      throw new FunctionInvocationError(
        functionName,
        isObject(payload) ? String(payload.errorType ?? 'Error') : 'Error',
        isObject(payload) ? String(payload.errorMessage ?? '') : String(payload ?? ''),
      );
    }
    if (!response.ok) {
      throw new InvokeTransportError(
        functionName,
        `HTTP ${response.status}${errorType ? ` ${errorType}` : ''}: ${text.slice(0, 200)}`,
      );
    }
    return payload;
  };
};

/**
 * A handler as the in-process invoker calls it. Declared as a method so a handler typed for a
 * narrower event (`Handler<MSKEvent>`) is accepted too.
 */
export type InProcessHandler = {
  bivarianceHack(event: KafkaEventPayload, context: Context): unknown;
}['bivarianceHack'];

/** The Lambda context of an in-process invocation that may run `timeoutMs`. */
export const lambdaContext = (
  functionName: string,
  timeoutMs: number,
  logStreamName = 'msk-bridge',
): Context => {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
};

// The event and the result cross a JSON boundary in Lambda: a handler cannot change the records
// the bridge keeps for a retry, and gets back only what survives serialization.
const throughJson = (value: unknown): unknown =>
  value === undefined ? undefined : JSON.parse(JSON.stringify(value));

/**
 * Invokes handlers of this process by function name (tests, embedded mode). A handler that
 * throws or rejects is a failed invocation, as in Lambda.
 */
export const inProcessInvoker = (
  handlers: Record<string, InProcessHandler>,
  { timeoutMs = 10_000 }: { timeoutMs?: number } = {},
): Invoke => {
  return async (functionName, event) => {
    const handler = Object.hasOwn(handlers, functionName) ? handlers[functionName] : undefined;
    if (!handler) throw new FunctionNotFoundError(functionName);
    try {
      return throughJson(
        await handler(
          throughJson(event) as KafkaEventPayload,
          lambdaContext(functionName, timeoutMs),
        ),
      );
    } catch (cause) {
      const error = cause instanceof Error ? cause : new Error(String(cause));
      throw new FunctionInvocationError(functionName, error.name, error.message, { cause });
    }
  };
};
