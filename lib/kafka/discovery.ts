import type { KafkaClientConfig } from '@aws-sdk/client-kafka';
import type { KafkaConfig } from '../config.ts';

type BrokerStrings = {
  BootstrapBrokerString?: string | undefined;
  BootstrapBrokerStringTls?: string | undefined;
  BootstrapBrokerStringSaslScram?: string | undefined;
  BootstrapBrokerStringSaslIam?: string | undefined;
};

/** Which of MSK's bootstrap strings serves the configured auth mode. */
export const brokerStringFor = (
  config: KafkaConfig,
  strings: BrokerStrings,
): string | undefined => {
  switch (config.sasl?.mechanism) {
    case 'aws-iam':
      return strings.BootstrapBrokerStringSaslIam;
    case 'scram-sha-256':
    case 'scram-sha-512':
      return strings.BootstrapBrokerStringSaslScram;
    case 'plain':
      return undefined; // MSK offers no SASL/PLAIN listener
    default:
      return config.ssl ? strings.BootstrapBrokerStringTls : strings.BootstrapBrokerString;
  }
};

const discovered = new Map<string, Promise<string[]>>();

/**
 * `@aws-sdk/client-kafka`, loaded on first use. The bundles leave `@aws-sdk/*` out (the Lambda
 * Node.js runtime ships the AWS SDK v3; see serverless.yml `custom.esbuild`), so this is a
 * `require` at run time, and functions given KAFKA_BROKERS never load or parse the SDK.
 */
const loadKafkaSdk = async () => {
  try {
    return await import('@aws-sdk/client-kafka');
  } catch (cause) {
    throw new Error(
      'MSK_CLUSTER_ARN is set but @aws-sdk/client-kafka cannot be loaded; the functions use the AWS SDK v3 of the Lambda Node.js runtime, so outside Lambda install it (npm ci) or set KAFKA_BROKERS instead',
      { cause },
    );
  }
};

/**
 * The bootstrap brokers of the MSK cluster in `config.mskClusterArn`, from GetBootstrapBrokers,
 * looked up once per container (a failed lookup is forgotten, so the next call asks again).
 * `clientConfig` lets tests point the SDK at a local endpoint.
 * @throws Error naming the cluster and the auth mode when MSK offers no matching listener, or
 *   when the SDK cannot be loaded.
 */
export const discoverBrokers = (
  config: KafkaConfig,
  clientConfig: KafkaClientConfig = {},
): Promise<string[]> => {
  if (config.kind === 'brokers') return Promise.resolve(config.brokers);
  const arn = config.mskClusterArn;
  const cached = discovered.get(arn);
  if (cached) return cached;
  const lookup = (async () => {
    const { KafkaClient, GetBootstrapBrokersCommand } = await loadKafkaSdk();
    const client = new KafkaClient({ region: config.region, maxAttempts: 3, ...clientConfig });
    try {
      const strings = await client.send(new GetBootstrapBrokersCommand({ ClusterArn: arn }));
      const brokers = brokerStringFor(config, strings);
      if (!brokers) {
        const mode = config.sasl?.mechanism ?? (config.ssl ? 'tls' : 'plaintext');
        throw new Error(
          `MSK cluster ${arn} has no bootstrap brokers for auth mode "${mode}"; enable that listener on the cluster or change KAFKA_SASL_MECHANISM/KAFKA_SSL`,
        );
      }
      return brokers.split(',');
    } finally {
      client.destroy();
    }
  })();
  discovered.set(arn, lookup);
  lookup.catch(() => discovered.delete(arn));
  return lookup;
};

/** Forgets cached lookups (tests, or after the cluster's brokers changed). */
export const forgetDiscoveredBrokers = (): void => discovered.clear();
