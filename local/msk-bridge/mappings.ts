import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MappingConfigError } from './errors.ts';
import type { KafkaMapping, StartingPosition } from './types.ts';

/** What `serverless print --format json` returns, as far as the bridge reads it. */
export interface ResolvedServerlessConfig {
  service: string | { name: string };
  provider?: { stage?: string; region?: string };
  functions?: Record<string, { name?: string; events?: Record<string, unknown>[] }>;
  resources?: {
    Parameters?: Record<string, { Default?: unknown }>;
    Resources?: Record<string, CfResource>;
    extensions?: Record<string, CfResource>;
  };
}

interface CfResource {
  Properties?: {
    FunctionResponseTypes?: unknown;
    MaximumRetryAttempts?: unknown;
    DestinationConfig?: { OnFailure?: { Destination?: unknown } };
  };
}

/** Lambda's defaults for Kafka mappings (msk-esm-parameters: BatchSize 100, window 500 ms). */
export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_BATCHING_WINDOW_MS = 500;

const STARTING_POSITIONS: readonly StartingPosition[] = ['LATEST', 'TRIM_HORIZON', 'AT_TIMESTAMP'];

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const upperFirst = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

// The CloudFormation logical ids osls gives event-source mappings (lib/plugins/aws/lib/naming.js),
// so a `resources.extensions` override of a mapping can be found.
const normalizedFunctionName = (functionKey: string) =>
  upperFirst(functionKey.replace(/-/g, 'Dash').replace(/_/g, 'Underscore'));
const alphaNumeric = (name: string) => upperFirst(name.replace(/[^0-9A-Za-z]/g, ''));

const clusterNameToken = (arn: unknown): string => {
  if (typeof arn === 'string') return arn.split('/')[1] ?? arn;
  if (isRecord(arn)) return String(arn['Fn::ImportValue'] ?? arn.Ref ?? 'cluster');
  return 'cluster';
};

/**
 * The ARN an event carries: the literal, or a `Ref` to a stack parameter's default (how
 * serverless.yml passes the cluster, to keep the mappings' logical ids stable).
 */
const eventSourceArnOf = (
  config: ResolvedServerlessConfig,
  arn: unknown,
  region: string,
): string => {
  if (typeof arn === 'string') return arn;
  const parameter =
    isRecord(arn) && typeof arn.Ref === 'string'
      ? config.resources?.Parameters?.[arn.Ref]
      : undefined;
  if (typeof parameter?.Default === 'string') return parameter.Default;
  return `arn:aws:kafka:${region}:000000000000:cluster/${clusterNameToken(arn)}/local`;
};

/** The logical id osls gives the AWS::Lambda::EventSourceMapping of one event. */
export const mappingLogicalId = (
  functionKey: string,
  kind: 'msk' | 'kafka',
  topic: string,
  arn?: unknown,
): string =>
  kind === 'msk'
    ? `${normalizedFunctionName(functionKey)}EventSourceMappingMSK${alphaNumeric(clusterNameToken(arn)).slice(0, 79)}${alphaNumeric(topic).slice(0, 79)}`
    : `${normalizedFunctionName(functionKey)}EventSourceMappingKafka${alphaNumeric(topic).slice(0, 158)}`;

/** The mapping's properties set in serverless.yml (`resources.extensions` or `Resources`). */
const propertiesOf = (config: ResolvedServerlessConfig, logicalId: string) => [
  config.resources?.extensions?.[logicalId]?.Properties,
  config.resources?.Resources?.[logicalId]?.Properties,
];

const reportsBatchItemFailures = (config: ResolvedServerlessConfig, logicalId: string): boolean =>
  propertiesOf(config, logicalId).some((properties) => {
    const types = properties?.FunctionResponseTypes;
    return Array.isArray(types) && types.includes('ReportBatchItemFailures');
  });

/** When both are set, Lambda bounds "infinite" retries to this (kafka-on-failure-destination). */
export const RETRIES_WITH_DESTINATION = 10;

/**
 * MaximumRetryAttempts and a `kafka://<topic>` on-failure destination of the mapping, as Lambda
 * applies them: -1 or absent means retry forever, except that with a destination Lambda bounds
 * it to 10. Other destinations (SQS, SNS, S3) have no local stand-in.
 * @throws MappingConfigError for a retry count out of Lambda's range (-1 to 10000).
 */
const errorHandlingOf = (
  config: ResolvedServerlessConfig,
  logicalId: string,
  functionKey: string,
): { maxRetryAttempts?: number; onFailureTopic?: string; notes: string[] } => {
  const properties = propertiesOf(config, logicalId);
  const retries = properties.find(
    (p) => p?.MaximumRetryAttempts !== undefined,
  )?.MaximumRetryAttempts;
  const destination = properties.find((p) => p?.DestinationConfig?.OnFailure?.Destination)
    ?.DestinationConfig?.OnFailure?.Destination;
  const notes: string[] = [];
  let onFailureTopic: string | undefined;
  if (typeof destination === 'string' && destination.startsWith('kafka://')) {
    onFailureTopic = destination.slice('kafka://'.length);
  } else if (destination !== undefined) {
    notes.push(
      `the on-failure destination ${JSON.stringify(destination)} has no local stand-in: records given up on are logged and skipped`,
    );
  }
  const bounded =
    retries === undefined || retries === -1
      ? undefined
      : integerIn(retries, 0, 10_000, 'MaximumRetryAttempts', functionKey);
  const maxRetryAttempts =
    bounded ?? (onFailureTopic === undefined ? undefined : RETRIES_WITH_DESTINATION);
  return {
    ...(maxRetryAttempts === undefined ? {} : { maxRetryAttempts }),
    ...(onFailureTopic === undefined ? {} : { onFailureTopic }),
    notes,
  };
};

const integerIn = (
  value: unknown,
  min: number,
  max: number,
  what: string,
  functionKey: string,
): number => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new MappingConfigError(
      `${functionKey}: ${what} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
      functionKey,
    );
  }
  return value;
};

/**
 * One mapping from one `msk` / `kafka` event, with the defaults `serverless deploy` would leave
 * to AWS: osls drops a falsy batchSize / maximumBatchingWindow (so 0 s means AWS's 500 ms) and
 * defaults startingPosition to TRIM_HORIZON.
 * @throws MappingConfigError naming the function and the bad field.
 */
const toMapping = (
  config: ResolvedServerlessConfig,
  defaults: { service: string; stage: string; region: string },
  functionKey: string,
  functionName: string,
  kind: 'msk' | 'kafka',
  index: number,
  event: Record<string, unknown>,
): KafkaMapping => {
  const { topic } = event;
  if (typeof topic !== 'string' || topic === '') {
    throw new MappingConfigError(`${functionKey}: the ${kind} event has no topic`, functionKey);
  }
  const batchSize = event.batchSize
    ? integerIn(event.batchSize, 1, 10_000, 'batchSize', functionKey)
    : DEFAULT_BATCH_SIZE;
  const batchingWindowMs = event.maximumBatchingWindow
    ? integerIn(event.maximumBatchingWindow, 0, 300, 'maximumBatchingWindow', functionKey) * 1000
    : DEFAULT_BATCHING_WINDOW_MS;
  const startingPosition = (event.startingPosition ?? 'TRIM_HORIZON') as StartingPosition;
  if (!STARTING_POSITIONS.includes(startingPosition)) {
    throw new MappingConfigError(
      `${functionKey}: startingPosition must be one of ${STARTING_POSITIONS.join(', ')}, got ${JSON.stringify(event.startingPosition)}`,
      functionKey,
    );
  }
  const timestamp = event.startingPositionTimestamp;
  if (startingPosition === 'AT_TIMESTAMP' && typeof timestamp !== 'number') {
    throw new MappingConfigError(
      `${functionKey}: startingPosition AT_TIMESTAMP needs startingPositionTimestamp (Unix seconds)`,
      functionKey,
    );
  }
  const consumerGroupId =
    typeof event.consumerGroupId === 'string' && event.consumerGroupId !== ''
      ? event.consumerGroupId
      : `${functionName}-${topic}`;
  const logicalId = mappingLogicalId(functionKey, kind, topic, event.arn);
  const reportBatchItemFailures = reportsBatchItemFailures(config, logicalId);
  const { notes: errorNotes, ...errorHandling } = errorHandlingOf(config, logicalId, functionKey);
  const notes = [
    ...errorNotes,
    ...(reportBatchItemFailures
      ? []
      : [
          `ReportBatchItemFailures is not enabled on ${logicalId}: a batchItemFailures response is ignored and the whole batch counts as processed, as on AWS (osls cannot set FunctionResponseTypes on ${kind} events; add it under resources.extensions.${logicalId}.Properties)`,
        ]),
    ...(event.filterPatterns === undefined
      ? []
      : ['filterPatterns are not applied locally: every record is delivered']),
  ];
  return {
    id: `${functionKey}#${index}`,
    functionKey,
    functionName,
    eventSource: kind === 'msk' ? 'aws:kafka' : 'SelfManagedKafka',
    ...(kind === 'msk'
      ? {
          eventSourceArn: eventSourceArnOf(config, event.arn, defaults.region),
        }
      : {}),
    topic,
    consumerGroupId,
    batchSize,
    batchingWindowMs,
    startingPosition,
    ...(typeof timestamp === 'number' ? { startingPositionTimestamp: timestamp * 1000 } : {}),
    reportBatchItemFailures,
    ...errorHandling,
    enabled: event.enabled !== false,
    ...(notes.length ? { notes } : {}),
  };
};

/**
 * The event-source mappings of a RESOLVED serverless config (`serverless print --format json`):
 * one per `msk` or `kafka` event, disabled ones included (`enabled: false`). Pure.
 * @throws MappingConfigError when an event cannot be played (missing topic, bad batchSize...).
 */
export const readMappings = (resolved: unknown): KafkaMapping[] => {
  if (!isRecord(resolved)) throw new MappingConfigError('the config is not an object', '-');
  const config = resolved as unknown as ResolvedServerlessConfig;
  const service = typeof config.service === 'string' ? config.service : config.service?.name;
  if (!service) throw new MappingConfigError('the config has no service name', '-');
  const defaults = {
    service,
    stage: config.provider?.stage ?? 'dev',
    region: config.provider?.region ?? 'us-east-1',
  };
  return Object.entries(config.functions ?? {}).flatMap(([functionKey, definition]) => {
    const functionName = definition?.name ?? `${service}-${defaults.stage}-${functionKey}`;
    return (definition?.events ?? []).flatMap((event, index) => {
      const kind = isRecord(event) && 'msk' in event ? 'msk' : 'kafka';
      const body = isRecord(event) ? event[kind] : undefined;
      return isRecord(body)
        ? [toMapping(config, defaults, functionKey, functionName, kind, index, body)]
        : [];
    });
  });
};

const run = promisify(execFile);

/**
 * Resolves serverless.yml in `cwd` with `serverless print --format json` (osls; about 4 s) and
 * reads its mappings. `env` is what `${env:...}` sees.
 * @throws Error with serverless's own message when the config does not resolve.
 */
export const loadMappingsFromServerless = async (
  cwd: string,
  { stage, env = process.env }: { stage?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<KafkaMapping[]> => {
  const bin = join(cwd, 'node_modules', 'serverless', 'bin', 'serverless.js');
  const args = [bin, 'print', '--format', 'json', ...(stage ? ['--stage', stage] : [])];
  let stdout: string;
  try {
    ({ stdout } = await run(process.execPath, args, {
      cwd,
      env,
      maxBuffer: 64 * 1024 * 1024,
    }));
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`serverless print failed in ${cwd}: ${stderr.trim() || String(error)}`, {
      cause: error,
    });
  }
  const start = stdout.indexOf('{');
  if (start < 0) throw new Error(`serverless print printed no JSON: ${stdout.slice(0, 200)}`);
  return readMappings(JSON.parse(stdout.slice(start)));
};
