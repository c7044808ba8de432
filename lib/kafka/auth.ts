import type { SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../config.ts';

/**
 * `aws-msk-iam-sasl-signer-js`, loaded when the first IAM token is needed. Its own code is in
 * the bundle; the AWS SDK v3 packages it requires (credential providers, STS) are left out of
 * the bundles and come from the Lambda Node.js runtime (serverless.yml `custom.esbuild`).
 */
const loadSigner = async () => {
  try {
    return await import('aws-msk-iam-sasl-signer-js');
  } catch (cause) {
    throw new Error(
      'KAFKA_SASL_MECHANISM=aws-iam but aws-msk-iam-sasl-signer-js or the AWS SDK v3 it needs cannot be loaded; outside Lambda install them (npm ci)',
      { cause },
    );
  }
};

/**
 * The kafkajs SASL options for the configured mechanism. MSK IAM uses OAUTHBEARER with a
 * SigV4-signed token from `aws-msk-iam-sasl-signer-js`, loaded only when IAM is in use; kafkajs
 * asks the provider again whenever it authenticates a new connection, so tokens stay fresh.
 */
export const saslOptionsOf = (config: KafkaConfig): SASLOptions | undefined => {
  const { sasl } = config;
  if (sasl === undefined) return undefined;
  // A fresh object per client: kafkajs caches its authenticator (password included) on the
  // object it is given, so a shared or copied one could log in with stale credentials.
  if (sasl.mechanism !== 'aws-iam') {
    return { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password };
  }
  const region = config.region;
  if (region === undefined) {
    throw new Error(
      'KAFKA_SASL_MECHANISM=aws-iam needs AWS_REGION (or MSK_CLUSTER_ARN) to sign tokens',
    );
  }
  return {
    mechanism: 'oauthbearer',
    oauthBearerProvider: async () => {
      const { generateAuthToken } = await loadSigner();
      const { token } = await generateAuthToken({ region });
      return { value: token };
    },
  };
};
