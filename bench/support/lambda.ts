import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { lambdaContext as bridgeLambdaContext } from '../../local/msk-bridge/invokers.ts';
import { REPO_ROOT } from './report.ts';

/** A sample event from events/ (the files `serverless invoke local -p` uses), parsed afresh. */
export const loadEvent = <T = unknown>(name: string): T =>
  JSON.parse(readFileSync(join(REPO_ROOT, 'events', name), 'utf8')) as T;

/** The Lambda context an in-process invocation gets (the bridge's in-process invoker's). */
export const lambdaContext = (functionName: string, timeoutMs = 10_000): Context =>
  bridgeLambdaContext(functionName, timeoutMs, 'bench');
