import { AsyncLocalStorage } from 'node:async_hooks';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricsOptions } from '@aws-lambda-powertools/metrics/types';
import { loggableError, logger } from './log.ts';

/**
 * The functions' CloudWatch metrics, as Embedded Metric Format lines (Powertools Metrics): no
 * API call, CloudWatch Logs extracts them from the function's log. Domain code records what
 * happened with `recordMetric`; `withMetrics` (around each invocation, invocation-log.ts) keeps
 * an invocation's metrics apart from any other running in the same process and writes them once,
 * when the invocation ends. Outside an invocation (the drain CLI, a test calling lib/ directly)
 * nothing is recorded.
 */

/** The one namespace of the application's metrics; serverless.yml's alarms name it too. */
export const METRICS_NAMESPACE = 'Narad';

/**
 * Every metric the functions record. `sum`: what an invocation recorded is added up into one
 * value. `last`: a level (a backlog), the last value recorded wins. `byTopic`: the metric also
 * has a `topic` dimension (the alarms watch it per topic).
 */
export const METRICS = {
  OrdersAccepted: { unit: MetricUnit.Count, kind: 'sum' },
  OrdersCompleted: { unit: MetricUnit.Count, kind: 'sum' },
  OrdersFailed: { unit: MetricUnit.Count, kind: 'sum' },
  EventsTracked: { unit: MetricUnit.Count, kind: 'sum' },
  EventsCounted: { unit: MetricUnit.Count, kind: 'sum' },
  DuplicatesSkipped: { unit: MetricUnit.Count, kind: 'sum' },
  FallbackParked: { unit: MetricUnit.Count, kind: 'sum' },
  FallbackDrained: { unit: MetricUnit.Count, kind: 'sum' },
  FallbackBacklog: { unit: MetricUnit.Count, kind: 'last', byTopic: true },
  DeadLettered: { unit: MetricUnit.Count, kind: 'sum', byTopic: true },
  CacheHits: { unit: MetricUnit.Count, kind: 'sum' },
  CacheMisses: { unit: MetricUnit.Count, kind: 'sum' },
  CacheMemoryServes: { unit: MetricUnit.Count, kind: 'sum' },
  RateLimited: { unit: MetricUnit.Count, kind: 'sum' },
  AuthorizerDenials: { unit: MetricUnit.Count, kind: 'sum' },
} as const satisfies Record<
  string,
  { unit: (typeof MetricUnit)[keyof typeof MetricUnit]; kind: 'sum' | 'last'; byTopic?: true }
>;

export type MetricName = keyof typeof METRICS;
type TopicMetric = {
  [N in MetricName]: (typeof METRICS)[N] extends { byTopic: true } ? N : never;
}[MetricName];

/** Powertools' cold-start metric (captureColdStartMetric), written once per container and function. */
export const COLD_START_METRIC = 'ColdStart';

interface Recorded {
  name: MetricName;
  topic?: string;
  value: number;
}

const current = new AsyncLocalStorage<Map<string, Recorded>>();

/**
 * Records `value` of `name` for the running invocation (added up, or replacing the last value
 * of a level). A zero count is left out: a missing data point is what the alarms read as zero.
 */
export function recordMetric(name: TopicMetric, value: number, dimensions: { topic: string }): void;
export function recordMetric(name: Exclude<MetricName, TopicMetric>, value?: number): void;
export function recordMetric(name: MetricName, value = 1, dimensions?: { topic: string }): void {
  const recorded = current.getStore();
  const { kind } = METRICS[name];
  if (!recorded || !Number.isFinite(value) || (kind === 'sum' && value === 0)) return;
  const topic = dimensions?.topic;
  const key = topic === undefined ? name : `${name}\u0000${topic}`;
  const earlier = recorded.get(key);
  recorded.set(key, {
    name,
    ...(topic === undefined ? {} : { topic }),
    value: kind === 'sum' && earlier ? earlier.value + value : value,
  });
}

/** Where EMF lines go; a test may capture them (writeMetricsTo). */
let writeLine: ((line: string) => void) | undefined;

/**
 * stdout, where Lambda and serverless offline take EMF from; under `serverless invoke local`
 * (IS_LOCAL) stderr, as the logger does: there stdout carries the handler's result as JSON.
 */
const defaultWrite = (line: string) =>
  (process.env.IS_LOCAL === 'true' ? process.stderr : process.stdout).write(`${line}\n`);

/** Sends every EMF line to `write` instead (tests); `undefined` restores the default. */
export const writeMetricsTo = (write: ((line: string) => void) | undefined): void => {
  writeLine = write;
};

/**
 * Powertools' Metrics writing through `writeLine`: Powertools prints with its own Console on
 * stdout, which `serverless invoke local` would mix into the handler's JSON result. Publishing
 * otherwise as Powertools does (disabled by POWERTOOLS_METRICS_DISABLED or POWERTOOLS_DEV),
 * without the warning for an invocation that recorded nothing.
 */
class NaradMetrics extends Metrics {
  readonly #dimensions: Record<string, string>;

  constructor(dimensions: Record<string, string>, options: MetricsOptions = {}) {
    super({ ...options, namespace: METRICS_NAMESPACE, logger });
    this.#dimensions = dimensions;
    // Powertools adds a `service` dimension by default; ours are the function and the stage only.
    this.clearDefaultDimensions();
    this.setDefaultDimensions(dimensions);
  }

  override publishStoredMetrics(): this {
    try {
      if (!this.isDisabled() && this.hasStoredMetrics()) {
        (writeLine ?? defaultWrite)(JSON.stringify(this.serializeMetrics()));
      }
    } finally {
      this.clearMetrics();
      this.clearDimensions();
      this.clearMetadata();
    }
    return this;
  }

  /** The cold-start metric's one-off instance: the same dimensions, written the same way. */
  override singleMetric(): NaradMetrics {
    return new NaradMetrics(this.#dimensions, { singleMetric: true });
  }
}

/** The dimensions of every metric: the function and the stage (serverless.yml sets STAGE). */
const dimensionsOf = (functionName: string, topic?: string): Record<string, string> => ({
  function: functionName,
  stage: process.env.STAGE || 'local',
  ...(topic === undefined ? {} : { topic }),
});

const metricsOf = (functionName: string, topic?: string): NaradMetrics =>
  new NaradMetrics(dimensionsOf(functionName, topic));

// One per function for the container's life: Powertools counts the cold start per instance.
const functionMetrics = new Map<string, NaradMetrics>();

/** Writes an invocation's metrics: one EMF line, plus one per topic of the per-topic metrics. */
const publish = (functionName: string, recorded: Map<string, Recorded>) => {
  let metrics = functionMetrics.get(functionName);
  if (!metrics) {
    metrics = metricsOf(functionName);
    functionMetrics.set(functionName, metrics);
  }
  metrics.captureColdStartMetric();
  const byTopic = new Map<string, Recorded[]>();
  for (const entry of recorded.values()) {
    if (entry.topic === undefined) {
      metrics.addMetric(entry.name, METRICS[entry.name].unit, entry.value);
    } else {
      byTopic.set(entry.topic, [...(byTopic.get(entry.topic) ?? []), entry]);
    }
  }
  metrics.publishStoredMetrics();
  for (const [topic, entries] of byTopic) {
    const perTopic = metricsOf(functionName, topic);
    for (const entry of entries) {
      perTopic.addMetric(entry.name, METRICS[entry.name].unit, entry.value);
    }
    perTopic.publishStoredMetrics();
  }
};

/**
 * Runs one invocation of `functionName` with metrics of its own, and writes them when it ends,
 * however it ends. A failure to write them is logged, never the invocation's failure.
 */
export const withMetrics = async <R>(functionName: string, run: () => Promise<R>): Promise<R> => {
  const recorded = new Map<string, Recorded>();
  try {
    return await current.run(recorded, run);
  } finally {
    try {
      publish(functionName, recorded);
    } catch (error) {
      logger.warn({ message: 'metrics not written', error: loggableError(error) });
    }
  }
};
