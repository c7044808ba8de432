import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { SASLOptions } from 'kafkajs';
import { loadDotEnv } from '../dotenv.ts';
import { startMskBridge } from './bridge.ts';
import { offlineInvoker } from './invokers.ts';
import { consoleLog } from './log.ts';
import { loadMappingsFromServerless } from './mappings.ts';
import type { KafkaMapping } from './types.ts';

/**
 * `node --import tsx local/msk-bridge/main.ts [--function <key>]... [--stage <stage>]`
 * Plays the msk/kafka events of serverless.yml against the local broker and invokes the
 * functions through serverless-offline's Lambda endpoint. Environment: KAFKA_BROKERS
 * (127.0.0.1:9092), LAMBDA_PORT (3002), MSK_BRIDGE_MAX_RETRIES (overrides every mapping's
 * MaximumRetryAttempts), KAFKA_SASL_MECHANISM /
 * KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD (plain, scram-sha-256, scram-sha-512), KAFKA_SSL.
 */

const REPO_ROOT = join(import.meta.dirname, '..', '..');

const saslFromEnv = (env: NodeJS.ProcessEnv): SASLOptions | undefined => {
  const mechanism = env.KAFKA_SASL_MECHANISM?.toLowerCase();
  const username = env.KAFKA_SASL_USERNAME ?? '';
  const password = env.KAFKA_SASL_PASSWORD ?? '';
  if (!mechanism) return undefined;
  if (mechanism === 'plain' || mechanism === 'scram-sha-256' || mechanism === 'scram-sha-512') {
    return { mechanism, username, password } as SASLOptions;
  }
  throw new Error(
    `KAFKA_SASL_MECHANISM=${mechanism} is not supported by the bridge (plain, scram-sha-256, scram-sha-512)`,
  );
};

const describe = (mapping: KafkaMapping): string => {
  const window =
    mapping.batchingWindowMs % 1000 === 0
      ? `${mapping.batchingWindowMs / 1000} s`
      : `${mapping.batchingWindowMs} ms`;
  return `${mapping.functionKey} <- ${mapping.topic} (group ${mapping.consumerGroupId}, batch ${mapping.batchSize}, window ${window}, ${mapping.startingPosition})`;
};

const main = async () => {
  loadDotEnv();
  const { values } = parseArgs({
    options: {
      function: { type: 'string', multiple: true },
      stage: { type: 'string' },
    },
  });
  const log = consoleLog(process.env.MSK_BRIDGE_DEBUG ? 'debug' : 'info');
  const brokers = process.env.KAFKA_BROKERS || '127.0.0.1:9092';
  const lambdaUrl = `http://127.0.0.1:${process.env.LAMBDA_PORT || 3002}`;
  const maxRetries = process.env.MSK_BRIDGE_MAX_RETRIES
    ? Number(process.env.MSK_BRIDGE_MAX_RETRIES)
    : undefined;

  const all = await loadMappingsFromServerless(
    REPO_ROOT,
    values.stage ? { stage: values.stage } : {},
  );
  const wanted = values.function;
  const selected = all.filter(
    (mapping) =>
      !wanted || wanted.includes(mapping.functionKey) || wanted.includes(mapping.functionName),
  );
  if (wanted) {
    const unknown = wanted.filter(
      (name) => !all.some((m) => m.functionKey === name || m.functionName === name),
    );
    if (unknown.length) throw new Error(`no msk/kafka event for ${unknown.join(', ')}`);
  }
  for (const mapping of selected.filter((m) => !m.enabled))
    log('info', `${describe(mapping)}: disabled, skipped`);
  if (!selected.some((m) => m.enabled)) {
    log('info', 'no enabled msk/kafka events to play; exiting');
    return;
  }

  const bridge = await startMskBridge({
    brokers,
    mappings: selected,
    invoke: offlineInvoker({ lambdaUrl }),
    log,
    sasl: saslFromEnv(process.env),
    ssl: process.env.KAFKA_SSL === 'true',
    ...(maxRetries === undefined ? {} : { maxRetries }),
  });
  for (const mapping of bridge.mappings) {
    log('info', describe(mapping));
    for (const note of mapping.notes ?? []) log('warn', `${mapping.functionKey}: ${note}`);
  }
  log('info', `consuming from ${brokers}, invoking through ${lambdaUrl}`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      log('warn', `${signal} again: exiting without waiting for in-flight invocations`);
      process.exit(1);
    }
    stopping = true;
    log('info', `${signal}: waiting for in-flight invocations, leaving the consumer groups...`);
    await bridge.stop();
    log('info', 'stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
};

main().catch((error: unknown) => {
  console.error(
    `msk-bridge: could not start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
