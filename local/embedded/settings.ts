import { ConfigError } from '../../lib/errors.ts';
import * as z from '../../lib/zod.ts';

/**
 * Where embedded Kafka delivers its records: development-only settings that `npm start` writes
 * for serverless offline's process (local/dev.ts). They are read here, by the dev code that uses
 * them, so the functions' configuration (lib/config.ts) holds nothing that only `npm start` sets.
 */

/** One `msk` event of serverless.yml, as embedded Kafka plays it. */
export interface EmbeddedMapping {
  functionName: string;
  topic: string;
  batchSize: number;
  eventSourceArn?: string;
  reportBatchItemFailures: boolean;
  /** Retries of a failing batch before its records go to `<topic>.dlq` (MaximumRetryAttempts). */
  maxRetries: number;
}

export interface EmbeddedKafkaSettings {
  /** serverless offline's Lambda endpoint, through which embedded Kafka invokes consumers. */
  lambdaUrl: string | undefined;
  /** The consumers to deliver to; empty: records stay in the log. */
  mappings: EmbeddedMapping[];
}

const settingsSchema = z.object({
  NARAD_EMBEDDED_LAMBDA_URL: z.optional(
    z.pipe(
      z.transform((value) =>
        typeof value === 'string' && value.trim() === '' ? undefined : value,
      ),
      z.optional(z.url({ protocol: /^http$/, error: 'must be an http URL' })),
    ),
  ),
  NARAD_EMBEDDED_MAPPINGS: z.pipe(
    z.pipe(
      z.optional(z.string()),
      z.transform((text: string | undefined, payload) => {
        if (text === undefined || text.trim() === '') return [];
        try {
          return JSON.parse(text) as unknown;
        } catch {
          payload.issues.push({ code: 'custom', message: 'must be JSON', input: text });
          return z.NEVER;
        }
      }),
    ),
    z.array(
      z.object({
        functionName: z.string().check(z.minLength(1)),
        topic: z.string().check(z.minLength(1)),
        batchSize: z.number().check(z.int(), z.positive()),
        eventSourceArn: z.optional(z.string()),
        reportBatchItemFailures: z.boolean(),
        maxRetries: z.number().check(z.int(), z.nonnegative()),
      }),
      { error: 'must be a JSON list of mappings (npm start writes it)' },
    ),
  ),
});

/**
 * Reads NARAD_EMBEDDED_LAMBDA_URL and NARAD_EMBEDDED_MAPPINGS.
 * @throws ConfigError naming the bad variable.
 */
export const embeddedKafkaSettings = (
  source: Record<string, string | undefined> = process.env,
): EmbeddedKafkaSettings => {
  const parsed = settingsSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(
      `Invalid configuration: ${variable} ${issue?.message ?? 'is invalid'}.`,
      variable,
    );
  }
  return {
    lambdaUrl: parsed.data.NARAD_EMBEDDED_LAMBDA_URL,
    mappings: parsed.data.NARAD_EMBEDDED_MAPPINGS,
  };
};
