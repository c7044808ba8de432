/**
 * A serverless plugin (listed in serverless.yml): adds the operator's view to the packaged
 * template, derived from the functions and their msk events so a new function or mapping is
 * covered without editing a list: CloudWatch alarms to the AlarmTopic (serverless.yml) and one
 * dashboard. What each alarm means and what to do: docs/operations.md. Settings come from
 * `custom.operations` (thresholds as params, checked by check-deploy-params.cjs).
 *
 * - Errors and Throttles of every function (AWS/Lambda, FunctionName).
 * - OffsetLag of every function with an msk event (AWS/Lambda; Lambda publishes it for Kafka
 *   event sources: records written to the topic that the mapping's consumer group has not
 *   processed).
 * - DeadLettered (our EMF metric, lib/metrics.ts): any record a consumer put in <topic>.dlq,
 *   summed over every (function, topic) of the msk events.
 * - FallbackBacklog (EMF, written by drainFallback every run): a kafka_fallback:<topic> list
 *   above zero for backlogMinutes consecutive minutes means Kafka has been unreachable.
 * - The HTTP API's 5xx responses as a percentage of its requests (AWS/ApiGateway, ApiId).
 *
 * Plain CommonJS: osls loads plugins with require().
 */

const NOTIFY = { Ref: 'AlarmTopic' };
const ALARM_ACTIONS = { AlarmActions: [NOTIFY], OKActions: [NOTIFY] };

/** `process-orders` -> `ProcessOrders`: a logical-id-safe part. */
const idPart = (text) =>
  String(text)
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join('');

const numberOf = (settings, name) => {
  const value = Number(settings[name]);
  if (!Number.isFinite(value)) {
    throw new Error(`custom.operations.${name} "${settings[name]}" is not a number`);
  }
  return value;
};

/** Each (function, topic) of the functions' msk events. */
const mappingsOf = (service) =>
  service
    .getAllFunctions()
    .flatMap((name) =>
      (service.getFunction(name).events ?? [])
        .filter((event) => event.msk)
        .map((event) => ({ function: name, topic: event.msk.topic })),
    );

/** An alarm over one metric. */
const metricAlarm = (description, metric, alarm) => ({
  Type: 'AWS::CloudWatch::Alarm',
  Properties: {
    AlarmDescription: description,
    ...metric,
    TreatMissingData: 'notBreaching',
    ...ALARM_ACTIONS,
    ...alarm,
  },
});

/** An alarm over an expression of several metrics (`m0`, `m1`, ...). */
const mathAlarm = (description, expression, label, metrics, alarm) => ({
  Type: 'AWS::CloudWatch::Alarm',
  Properties: {
    AlarmDescription: description,
    Metrics: [
      { Id: 'e0', Expression: expression, Label: label, ReturnData: true },
      ...metrics.map((metric, i) => ({
        Id: `m${i}`,
        ReturnData: false,
        MetricStat: {
          Metric: {
            Namespace: metric.namespace,
            MetricName: metric.name,
            Dimensions: metric.dimensions,
          },
          Period: metric.period,
          Stat: metric.stat,
        },
      })),
    ],
    TreatMissingData: 'notBreaching',
    ...ALARM_ACTIONS,
    ...alarm,
  },
});

const dimensionList = (dimensions) =>
  Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value }));

/** The alarms and the dashboard for `service` (its functions' logical ids from `naming`). */
const operationsResources = (service, naming, settings) => {
  const stage = service.provider.stage;
  const namespace = settings.namespace;
  const functions = service.getAllFunctions();
  const mappings = mappingsOf(service);
  const consumers = [...new Set(mappings.map((mapping) => mapping.function))];
  const parkedTopics = settings.parkedTopics ?? [];
  const fnRef = (name) => ({ Ref: naming.getLambdaLogicalId(name) });
  const ours = (name, dimensions) => ({
    namespace,
    name,
    dimensions: dimensionList({ ...dimensions, stage }),
    period: 60,
  });
  const resources = {};

  for (const name of functions) {
    for (const [metricName, threshold, what] of [
      ['Errors', numberOf(settings, 'functionErrors'), 'invocations that failed'],
      ['Throttles', numberOf(settings, 'functionThrottles'), 'invocations Lambda throttled'],
    ]) {
      resources[`${idPart(name)}${metricName}Alarm`] = metricAlarm(
        `${name}: ${threshold} or more ${what} in 5 minutes (docs/operations.md, "${metricName}").`,
        {
          Namespace: 'AWS/Lambda',
          MetricName: metricName,
          Dimensions: [{ Name: 'FunctionName', Value: fnRef(name) }],
          Statistic: 'Sum',
          Period: 300,
        },
        {
          EvaluationPeriods: 1,
          Threshold: threshold,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        },
      );
    }
  }

  const lag = numberOf(settings, 'offsetLag');
  for (const name of consumers) {
    resources[`${idPart(name)}OffsetLagAlarm`] = metricAlarm(
      `${name}: its mappings are more than ${lag} records behind for 5 minutes (docs/operations.md, "OffsetLag").`,
      {
        Namespace: 'AWS/Lambda',
        MetricName: 'OffsetLag',
        Dimensions: [{ Name: 'FunctionName', Value: fnRef(name) }],
        Statistic: 'Maximum',
        Period: 60,
      },
      {
        EvaluationPeriods: 5,
        DatapointsToAlarm: 5,
        Threshold: lag,
        ComparisonOperator: 'GreaterThanThreshold',
      },
    );
  }

  if (mappings.length > 0) {
    resources.DeadLettersAlarm = mathAlarm(
      'A consumer dead-lettered a record to <topic>.dlq (docs/operations.md, "DeadLetters").',
      `SUM([${mappings.map((_, i) => `m${i}`).join(', ')}])`,
      'records dead-lettered',
      mappings.map((mapping) => ({
        ...ours('DeadLettered', { function: mapping.function, topic: mapping.topic }),
        stat: 'Sum',
      })),
      { EvaluationPeriods: 1, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' },
    );
  }

  const backlogMinutes = numberOf(settings, 'backlogMinutes');
  if (parkedTopics.length > 0) {
    resources.FallbackBacklogAlarm = mathAlarm(
      `A kafka_fallback list has held messages for ${backlogMinutes} minutes: Kafka is unreachable from the functions (docs/operations.md, "FallbackBacklog").`,
      `MAX([${parkedTopics.map((_, i) => `m${i}`).join(', ')}])`,
      'largest fallback backlog',
      parkedTopics.map((topic) => ({
        ...ours('FallbackBacklog', { function: settings.drainFunction, topic }),
        stat: 'Maximum',
      })),
      {
        EvaluationPeriods: backlogMinutes,
        DatapointsToAlarm: backlogMinutes,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      },
    );
  }

  const http5xx = numberOf(settings, 'http5xxPercent');
  const api = [{ Name: 'ApiId', Value: { Ref: 'HttpApi' } }];
  resources.Http5xxRateAlarm = mathAlarm(
    `More than ${http5xx} % of the HTTP API's responses were 5xx over 5 minutes (docs/operations.md, "Http5xxRate").`,
    '100 * m0 / m1',
    '5xx responses (%)',
    [
      { namespace: 'AWS/ApiGateway', name: '5xx', dimensions: api, period: 300, stat: 'Sum' },
      { namespace: 'AWS/ApiGateway', name: 'Count', dimensions: api, period: 300, stat: 'Sum' },
    ],
    { EvaluationPeriods: 1, Threshold: http5xx, ComparisonOperator: 'GreaterThanThreshold' },
  );

  resources.OperationsDashboard = {
    Type: 'AWS::CloudWatch::Dashboard',
    Properties: {
      DashboardName: `${service.service}-${stage}`,
      DashboardBody: {
        'Fn::Sub': JSON.stringify(dashboardBody(service, naming, settings, mappings)),
      },
    },
  };
  return resources;
};

/**
 * The dashboard: throughput, failures, backlog, lag, latency, cache. A string for Fn::Sub, so
 * `${<LogicalId>}` becomes a function's name and `${HttpApi}` the API id at deploy time.
 */
const DOLLAR = '$';
/** `${name}` for Fn::Sub: a resource's Ref or a pseudo parameter, filled in at deploy time. */
const sub = (name) => `${DOLLAR}{${name}}`;
const API = sub('HttpApi');

const dashboardBody = (service, naming, settings, mappings) => {
  const stage = service.provider.stage;
  const ns = settings.namespace;
  const fn = (name) => sub(naming.getLambdaLogicalId(name));
  const ours = (metric, fnName, stat = 'Sum', extra = []) => [
    ns,
    metric,
    'function',
    fnName,
    'stage',
    stage,
    ...extra,
    { stat, label: `${metric} ${fnName}${extra.length ? ` ${extra[1]}` : ''}` },
  ];
  const perFunction = (metric, stat) =>
    service
      .getAllFunctions()
      .map((name) => ['AWS/Lambda', metric, 'FunctionName', fn(name), { stat, label: name }]);
  const consumers = [...new Set(mappings.map((mapping) => mapping.function))];
  const widget = (title, metrics, x, y, extra = {}) => ({
    type: 'metric',
    x,
    y,
    width: 12,
    height: 6,
    properties: {
      title,
      region: sub('AWS::Region'),
      view: 'timeSeries',
      period: 60,
      metrics,
      ...extra,
    },
  });
  return {
    widgets: [
      widget(
        'Throughput',
        [
          ours('OrdersAccepted', 'createOrder'),
          ours('OrdersCompleted', 'processOrders'),
          ours('EventsTracked', 'trackEvents'),
          ours('EventsCounted', 'processAnalytics'),
          ['AWS/ApiGateway', 'Count', 'ApiId', API, { stat: 'Sum', label: 'HTTP requests' }],
        ],
        0,
        0,
      ),
      widget(
        'Failures',
        [
          ours('OrdersFailed', 'processOrders'),
          ...mappings.map((mapping) =>
            ours('DeadLettered', mapping.function, 'Sum', ['topic', mapping.topic]),
          ),
          ['AWS/ApiGateway', '5xx', 'ApiId', API, { stat: 'Sum', label: 'HTTP 5xx' }],
          ours('RateLimited', 'createOrder'),
          ours('RateLimited', 'trackEvents'),
          ours('AuthorizerDenials', 'authorizer'),
          ...perFunction('Errors', 'Sum'),
          ...perFunction('Throttles', 'Sum'),
        ],
        12,
        0,
      ),
      widget(
        'Fallback backlog (kafka_fallback:<topic>) and traffic through it',
        [
          ...(settings.parkedTopics ?? []).map((topic) =>
            ours('FallbackBacklog', settings.drainFunction, 'Maximum', ['topic', topic]),
          ),
          ours('FallbackDrained', settings.drainFunction),
          ours('FallbackParked', 'createOrder'),
          ours('FallbackParked', 'trackEvents'),
          ours('DuplicatesSkipped', 'processOrders'),
          ours('DuplicatesSkipped', 'processAnalytics'),
        ],
        0,
        6,
      ),
      widget(
        'Mapping lag (OffsetLag, records)',
        consumers.map((name) => [
          'AWS/Lambda',
          'OffsetLag',
          'FunctionName',
          fn(name),
          { stat: 'Maximum', label: name },
        ]),
        12,
        6,
      ),
      widget(
        'Latency',
        [
          ['AWS/ApiGateway', 'Latency', 'ApiId', API, { stat: 'p50', label: 'HTTP p50' }],
          ['AWS/ApiGateway', 'Latency', 'ApiId', API, { stat: 'p99', label: 'HTTP p99' }],
          ...perFunction('Duration', 'p99'),
        ],
        0,
        12,
      ),
      widget(
        'Cache and cold starts',
        [
          ours('CacheHits', 'getUser'),
          ours('CacheMisses', 'getUser'),
          ours('CacheMemoryServes', 'getUser'),
          ...service.getAllFunctions().map((name) => ours('ColdStart', name)),
        ],
        12,
        12,
      ),
    ],
  };
};

class Operations {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:package:finalize': () => this.addResources() };
  }

  addResources() {
    const { service } = this.serverless;
    const settings = service.custom?.operations;
    if (!settings) return;
    const template = service.provider.compiledCloudFormationTemplate;
    Object.assign(
      template.Resources,
      operationsResources(service, this.serverless.getProvider('aws').naming, settings),
    );
  }
}

module.exports = Operations;
