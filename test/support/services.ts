import { type Config, loadConfig } from '../../lib/config.ts';
import { createServices, type Services } from '../../lib/services.ts';
import type { StackEndpoints } from '../../local/stack.ts';

/** A port nothing listens on. */
export const CLOSED_BROKER = '127.0.0.1:1';

/**
 * The services a function would build, against the local stack unless told otherwise
 * (`kafkaBrokers: CLOSED_BROKER` stands for Kafka down without stopping the shared broker).
 */
export const servicesFor = (
  stack: StackEndpoints,
  overrides: { kafkaBrokers?: string; upstashUrl?: string } = {},
): Services => {
  const config: Config = loadConfig({
    KAFKA_BROKERS: overrides.kafkaBrokers ?? stack.kafkaBrokers,
    KAFKA_CLIENT_ID: 'narad-tests',
    UPSTASH_REDIS_REST_URL: overrides.upstashUrl ?? stack.upstashUrl,
    UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
  });
  return createServices(config);
};
