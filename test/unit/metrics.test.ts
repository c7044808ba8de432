import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  COLD_START_METRIC,
  METRICS,
  METRICS_NAMESPACE,
  recordMetric,
  withMetrics,
  writeMetricsTo,
} from '../../lib/metrics.ts';

/**
 * The structure the CloudWatch Embedded Metric Format specification requires ("Specification:
 * Embedded metric format", Amazon CloudWatch User Guide): the root is a JSON object with an
 * `_aws` metadata object holding `Timestamp` (epoch milliseconds) and `CloudWatchMetrics`, an
 * array of MetricDirectives; each directive has `Namespace` (1-255 characters), `Dimensions`
 * (an array of DimensionSets: arrays of at most 30 dimension keys) and `Metrics` (at most 100
 * MetricDefinitions: `Name`, optional `Unit` from CloudWatch's units, optional
 * `StorageResolution` 1 or 60). Every dimension key names a string member of the root, every
 * metric name a number (or an array of up to 100 numbers) at the root. Returns what is wrong.
 */
const UNITS = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
]);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isName = (value: unknown): value is string =>
  typeof value === 'string' && value.length >= 1 && value.length <= 255;

const emfProblems = (line: string): string[] => {
  let root: unknown;
  try {
    root = JSON.parse(line);
  } catch {
    return ['not JSON'];
  }
  if (!isObject(root)) return ['the root is not an object'];
  const aws = root._aws;
  if (!isObject(aws)) return ['no _aws object'];
  const problems: string[] = [];
  if (typeof aws.Timestamp !== 'number' || !Number.isInteger(aws.Timestamp) || aws.Timestamp <= 0) {
    problems.push('_aws.Timestamp is not epoch milliseconds');
  }
  if (!Array.isArray(aws.CloudWatchMetrics) || aws.CloudWatchMetrics.length === 0) {
    return [...problems, '_aws.CloudWatchMetrics is not a non-empty array'];
  }
  for (const directive of aws.CloudWatchMetrics as unknown[]) {
    if (!isObject(directive)) {
      problems.push('a MetricDirective is not an object');
      continue;
    }
    if (!isName(directive.Namespace)) problems.push('Namespace is not 1-255 characters');
    if (!Array.isArray(directive.Dimensions)) problems.push('Dimensions is not an array');
    for (const set of Array.isArray(directive.Dimensions) ? directive.Dimensions : []) {
      if (!Array.isArray(set) || set.length > 30) {
        problems.push('a DimensionSet is not an array of at most 30 keys');
        continue;
      }
      for (const key of set) {
        if (!isName(key) || typeof root[key] !== 'string') {
          problems.push(`dimension ${String(key)} has no string value at the root`);
        }
      }
    }
    if (!Array.isArray(directive.Metrics) || directive.Metrics.length > 100) {
      problems.push('Metrics is not an array of at most 100 definitions');
      continue;
    }
    for (const definition of directive.Metrics as unknown[]) {
      if (!isObject(definition) || !isName(definition.Name)) {
        problems.push('a MetricDefinition has no Name');
        continue;
      }
      if (definition.Unit !== undefined && !UNITS.has(String(definition.Unit))) {
        problems.push(`${definition.Name} has the unknown unit ${String(definition.Unit)}`);
      }
      if (
        definition.StorageResolution !== undefined &&
        ![1, 60].includes(Number(definition.StorageResolution))
      ) {
        problems.push(`${definition.Name} has a StorageResolution other than 1 or 60`);
      }
      const value = root[definition.Name];
      const values = Array.isArray(value) ? value : [value];
      if (
        values.length === 0 ||
        values.length > 100 ||
        !values.every((v) => typeof v === 'number' && Number.isFinite(v))
      ) {
        problems.push(`${definition.Name} has no number value at the root`);
      }
    }
  }
  return problems;
};

let lines: string[] = [];
beforeEach(() => {
  lines = [];
  writeMetricsTo((line) => lines.push(line));
});
afterEach(() => {
  writeMetricsTo(undefined);
  delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
});

const documents = () =>
  lines.map(
    (line) =>
      JSON.parse(line) as Record<string, unknown> & {
        _aws: {
          CloudWatchMetrics: Array<{
            Namespace: string;
            Dimensions: string[][];
            Metrics: Array<{ Name: string; Unit: string }>;
          }>;
        };
      },
  );

describe('the EMF validator', () => {
  it('refuses documents the specification does not allow', () => {
    expect(emfProblems('{"a":1}')).toEqual(['no _aws object']);
    expect(
      emfProblems(
        JSON.stringify({
          _aws: {
            Timestamp: 'now',
            CloudWatchMetrics: [
              {
                Namespace: '',
                Dimensions: [['function']],
                Metrics: [{ Name: 'X', Unit: 'Apples' }],
              },
            ],
          },
        }),
      ),
    ).toEqual([
      '_aws.Timestamp is not epoch milliseconds',
      'Namespace is not 1-255 characters',
      'dimension function has no string value at the root',
      'X has the unknown unit Apples',
      'X has no number value at the root',
    ]);
  });
});

describe('metrics.ts writes valid EMF', () => {
  it('writes one document per invocation with every metric recorded, dimensioned by function and stage', async () => {
    await withMetrics('unitTestFunction', async () => {
      recordMetric('OrdersAccepted');
      recordMetric('OrdersAccepted');
      recordMetric('EventsTracked', 3);
      recordMetric('RateLimited', 0);
    });

    const main = lines.filter((line) => !line.includes(`"${COLD_START_METRIC}"`));
    expect(main).toHaveLength(1);
    expect(emfProblems(main[0] as string)).toEqual([]);
    const doc = JSON.parse(main[0] as string);
    expect(doc._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: METRICS_NAMESPACE,
        Dimensions: [['function', 'stage']],
        Metrics: [
          { Name: 'OrdersAccepted', Unit: 'Count' },
          { Name: 'EventsTracked', Unit: 'Count' },
        ],
      },
    ]);
    expect(doc).toMatchObject({
      function: 'unitTestFunction',
      OrdersAccepted: 2,
      EventsTracked: 3,
    });
    expect(doc.stage).toEqual(expect.any(String));
    expect(Math.abs(doc._aws.Timestamp - Date.now())).toBeLessThan(60_000);
  });

  it("writes Powertools' cold-start metric for the first invocation of a function only, as valid EMF", async () => {
    // Lambda sets it for a container started by a request; Powertools counts only those.
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
    await withMetrics('coldStartFunction', async () => undefined);
    await withMetrics('coldStartFunction', async () => undefined);

    const cold = documents().filter((doc) => COLD_START_METRIC in doc);
    expect(cold).toHaveLength(1);
    expect(emfProblems(lines[0] as string)).toEqual([]);
    expect(cold[0]?._aws.CloudWatchMetrics[0]).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      Metrics: [{ Name: COLD_START_METRIC, Unit: 'Count' }],
    });
    expect(cold[0]).toMatchObject({ function: 'coldStartFunction', [COLD_START_METRIC]: 1 });
  });

  it('puts the per-topic metrics in a document per topic with a topic dimension; a level keeps its last value', async () => {
    await withMetrics('drainFallback', async () => {
      recordMetric('FallbackBacklog', 7, { topic: 'orders' });
      recordMetric('FallbackBacklog', 4, { topic: 'orders' });
      recordMetric('FallbackBacklog', 0, { topic: 'user.events' });
      recordMetric('FallbackDrained', 3);
    });

    for (const line of lines) expect(emfProblems(line), line).toEqual([]);
    const perTopic = documents().filter((doc) => 'FallbackBacklog' in doc);
    expect(perTopic.map((doc) => [doc.topic, doc.FallbackBacklog])).toEqual([
      ['orders', 4],
      ['user.events', 0],
    ]);
    for (const doc of perTopic) {
      expect(doc._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['function', 'stage', 'topic']]);
    }
  });

  it('writes the metrics of an invocation that throws, and keeps concurrent invocations apart', async () => {
    await Promise.all([
      withMetrics('concurrentA', async () => {
        recordMetric('CacheHits');
        await new Promise((resolve) => setImmediate(resolve));
        recordMetric('CacheHits');
      }),
      withMetrics('concurrentB', async () => {
        recordMetric('CacheMisses');
        await new Promise((resolve) => setImmediate(resolve));
        throw new Error('boom');
      }).catch(() => undefined),
    ]);

    const byFunction = Object.fromEntries(
      documents()
        .filter((doc) => !(COLD_START_METRIC in doc))
        .map((doc) => [doc.function, doc]),
    );
    expect(byFunction.concurrentA).toMatchObject({ CacheHits: 2 });
    expect(byFunction.concurrentA).not.toHaveProperty('CacheMisses');
    expect(byFunction.concurrentB).toMatchObject({ CacheMisses: 1 });
  });

  it('records nothing outside an invocation', () => {
    recordMetric('OrdersAccepted');
    expect(lines).toEqual([]);
  });

  it('gives every metric a CloudWatch unit', () => {
    for (const [name, { unit }] of Object.entries(METRICS))
      expect(UNITS.has(unit), name).toBe(true);
  });
});
