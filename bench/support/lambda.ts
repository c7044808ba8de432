import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { REPO_ROOT } from './report.ts';

/** A sample event from events/ (the files `serverless invoke local -p` uses), parsed afresh. */
export const loadEvent = <T = unknown>(name: string): T =>
  JSON.parse(readFileSync(join(REPO_ROOT, 'events', name), 'utf8')) as T;

/** The Lambda context an in-process invocation gets (the bridge's in-process invoker's shape). */
export const lambdaContext = (functionName: string, timeoutMs = 10_000): Context => {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
};
