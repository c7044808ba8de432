import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS_NAMESPACE } from '../../lib/metrics.ts';
import { PARKED_TOPICS } from '../../lib/topics.ts';
import { runServerless } from '../support/serverless-cli.ts';
import {
  effective,
  functionsBundlingKafka,
  PROD_PARAMS,
  packageTemplate,
  paramArgs,
  type Resource,
  resourcesOfType,
  type Template,
} from './support/template.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const WORK = '.esbuild-deploy-test';
const PACKAGE_DIR = '.serverless-deploy-test';
const OPTIONS_PACKAGE_DIR = '.serverless-deploy-options-test';
const CLUSTER = PROD_PARAMS.mskClusterArn;

let text: string;
let template: Template;

beforeAll(async () => {
  ({ text, template } = await packageTemplate(
    PACKAGE_DIR,
    ['--stage', 'prod', ...paramArgs(PROD_PARAMS)],
    // Nothing from a developer's shell may leak into a production template.
    {
      ESBUILD_WORK_FOLDER: WORK,
      UPSTASH_REDIS_REST_TOKEN: 'dev-token-that-must-not-ship',
      SERVICE_API_KEY: 'dev-service-key-that-must-not-ship',
      AUTH_MODE: 'none',
      MSK_CLUSTER_ARN: 'arn:aws:kafka:us-east-1:000000000000:cluster/dev-shell/0000-1',
      NARAD_SUBNET_IDS: 'subnet-0dev',
      USER_SOURCE_URL: 'http://127.0.0.1:8090',
      KAFKA_CLIENT_ID: 'dev-shell-client',
    },
  ));
}, 120_000);

afterAll(async () => {
  await rm(join(ROOT, WORK), { recursive: true, force: true });
  await rm(join(ROOT, PACKAGE_DIR), { recursive: true, force: true });
  await rm(join(ROOT, OPTIONS_PACKAGE_DIR), { recursive: true, force: true });
});

const functionsOf = () => resourcesOfType(template, 'AWS::Lambda::Function');
const variablesOf = (fn: Resource) =>
  (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;

describe('the prod stage, packaged as docs/deploying.md deploys it', () => {
  it('takes the cluster, its VPC and the user service from the params, nothing from the shell that packages it', () => {
    expect(text).not.toContain('dev-token-that-must-not-ship');
    expect(text).not.toContain('dev-service-key-that-must-not-ship');
    expect(text).not.toContain('dev-shell');
    expect(text).not.toContain('subnet-0dev');
    expect(text).not.toContain('127.0.0.1');
    expect(template.Parameters.MskClusterArn?.Default).toBe(CLUSTER);
    expect(template.Parameters.SubnetIds?.Default).toBe('subnet-0a,subnet-0b');
    expect(template.Parameters.SecurityGroupIds?.Default).toBe('sg-0c');
    for (const [name, fn] of Object.entries(functionsOf())) {
      expect(variablesOf(fn), name).toMatchObject({
        NODE_ENV: 'production',
        MSK_CLUSTER_ARN: CLUSTER,
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'aws-iam',
        AUTH_MODE: 'session',
        USER_SOURCE_URL: 'https://users.internal.example.com',
        KAFKA_CLIENT_ID: 'narad-services-prod',
      });
    }
  });

  it('reads each secret through a CloudFormation reference naming the version passed, so a new version reaches the functions on the next deploy', () => {
    for (const [name, fn] of Object.entries(functionsOf())) {
      expect(variablesOf(fn), name).toMatchObject({
        UPSTASH_REDIS_REST_URL: '{{resolve:ssm:/narad/prod/upstash-url:3}}',
        UPSTASH_REDIS_REST_TOKEN:
          '{{resolve:secretsmanager:narad/prod/upstash:SecretString:token::a1b2c3d4-e5f6-4789-8abc-def012345678}}',
        SERVICE_API_KEY:
          '{{resolve:secretsmanager:narad/prod/service-api-key:SecretString:key::0f1e2d3c-4b5a-4697-8887-a5b4c3d2e1f0}}',
      });
    }
  });

  it("puts every function whose bundle holds the Kafka client in the cluster's VPC, and only those", async () => {
    const talkToKafka = await functionsBundlingKafka(template);
    const inVpc = Object.entries(functionsOf())
      .filter(([, fn]) => effective(template, fn.Properties.VpcConfig) !== undefined)
      .map(([name]) => name)
      .sort();

    expect(inVpc).toEqual(talkToKafka);
    for (const name of inVpc) {
      expect(effective(template, functionsOf()[name]?.Properties.VpcConfig), name).toEqual({
        SubnetIds: ['subnet-0a', 'subnet-0b'],
        SecurityGroupIds: ['sg-0c'],
      });
    }
  });

  it('grants the mappings what AWS documents for MSK (DescribeClusterV2, DescribeClusterDynamicConfiguration) and the functions their VPC network interfaces', () => {
    const [role] = Object.values(resourcesOfType(template, 'AWS::IAM::Role'));
    const statements = (
      (role?.Properties.Policies ?? []) as Array<{
        PolicyDocument: { Statement: Array<{ Action: string[]; Resource: unknown }> };
      }>
    ).flatMap((policy) => policy.PolicyDocument.Statement);
    const onCluster = statements
      .filter((statement) => JSON.stringify(statement.Resource) === '{"Ref":"MskClusterArn"}')
      .flatMap((statement) => statement.Action);
    const onAnything = statements
      .filter((statement) => statement.Resource === '*')
      .flatMap((statement) => statement.Action);

    expect(onCluster).toEqual(
      expect.arrayContaining([
        'kafka:DescribeClusterV2',
        'kafka:GetBootstrapBrokers',
        'kafka-cluster:Connect',
        'kafka-cluster:DescribeCluster',
        'kafka-cluster:DescribeClusterDynamicConfiguration',
        'kafka-cluster:WriteDataIdempotently',
      ]),
    );
    expect(onAnything).toEqual(
      expect.arrayContaining([
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ]),
    );
  });

  it('puts every protected route behind the session authorizer', () => {
    const authorizers = Object.fromEntries(
      Object.entries(resourcesOfType(template, 'AWS::ApiGatewayV2::Authorizer')).map(
        ([name, resource]) => [name, resource.Properties],
      ),
    );
    const routes = Object.fromEntries(
      Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Route')).map((resource) => [
        resource.Properties.RouteKey,
        (resource.Properties.AuthorizerId as { Ref?: string } | undefined)?.Ref ?? 'none',
      ]),
    );

    expect(authorizers).toEqual({
      HttpApiAuthorizerSession: expect.objectContaining({
        Name: 'session',
        AuthorizerType: 'REQUEST',
        IdentitySource: ['$request.header.Authorization'],
        AuthorizerResultTtlInSeconds: 60,
        EnableSimpleResponses: true,
        AuthorizerPayloadFormatVersion: '2.0',
      }),
      HttpApiAuthorizerSessionOrServiceKey: expect.objectContaining({
        Name: 'sessionOrServiceKey',
        AuthorizerType: 'REQUEST',
        IdentitySource: [],
        AuthorizerResultTtlInSeconds: 0,
        EnableSimpleResponses: true,
      }),
    });
    expect(routes).toEqual({
      'GET /health': 'none',
      'GET /openapi.json': 'none',
      'POST /orders': 'HttpApiAuthorizerSession',
      'GET /orders/{orderId}': 'HttpApiAuthorizerSession',
      'POST /analytics/events': 'HttpApiAuthorizerSessionOrServiceKey',
      'GET /analytics/daily/{date}': 'HttpApiAuthorizerSessionOrServiceKey',
      'GET /users/{userId}/activity': 'HttpApiAuthorizerSession',
      'GET /users/{userId}': 'HttpApiAuthorizerSession',
    });
  });

  it('throttles the stage, bounds the concurrency of the open /health, and allows no browser origin by default', () => {
    const [stage] = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Stage'));
    const [api] = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Api'));

    expect(stage?.Properties.DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: 100,
      ThrottlingBurstLimit: 200,
    });
    expect(functionsOf().HealthLambdaFunction?.Properties.ReservedConcurrentExecutions).toBe(5);
    expect(effective(template, api?.Properties)).not.toHaveProperty('CorsConfiguration');
  });

  it('gives every mapping the cluster param, partial-batch responses and a consumer group of its own', () => {
    const mappings = Object.values(resourcesOfType(template, 'AWS::Lambda::EventSourceMapping'));
    const groups = mappings.map(
      (mapping) =>
        (mapping.Properties.AmazonManagedKafkaEventSourceConfig as { ConsumerGroupId: string })
          .ConsumerGroupId,
    );

    expect(mappings).toHaveLength(4);
    for (const mapping of mappings) {
      expect(mapping.Properties).toMatchObject({
        EventSourceArn: { Ref: 'MskClusterArn' },
        StartingPosition: 'LATEST',
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
    expect(new Set(groups).size).toBe(groups.length);
  });
});

// After the tests above (one file, one package at a time: each package empties .serverless/,
// through which the other's artifacts pass).
describe('the prod stage with the optional HTTP API params', () => {
  it('set the stage throttling, the /health concurrency, the CORS origins and the Kafka client id', async () => {
    const { template } = await packageTemplate(
      OPTIONS_PACKAGE_DIR,
      [
        '--stage',
        'prod',
        ...paramArgs({
          ...PROD_PARAMS,
          apiThrottleRate: '25',
          apiThrottleBurst: '50',
          healthConcurrency: '2',
          corsAllowedOrigins: 'https://app.example.com,https://admin.example.com:8443',
          kafkaClientId: 'narad-orders-eu',
        }),
      ],
      { ESBUILD_WORK_FOLDER: WORK },
    );
    const [stage] = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Stage'));
    const [api] = Object.values(resourcesOfType(template, 'AWS::ApiGatewayV2::Api'));
    const health = resourcesOfType(template, 'AWS::Lambda::Function').HealthLambdaFunction;
    const settings = stage?.Properties.DefaultRouteSettings as Record<string, unknown>;

    // A --param is a string; CloudFormation reads "25" as it reads a Ref to a Number parameter.
    expect(Number(settings.ThrottlingRateLimit)).toBe(25);
    expect(Number(settings.ThrottlingBurstLimit)).toBe(50);
    expect(settings.DetailedMetricsEnabled).toBe(false);
    expect(Number(health?.Properties.ReservedConcurrentExecutions)).toBe(2);
    for (const [name, fn] of Object.entries(resourcesOfType(template, 'AWS::Lambda::Function'))) {
      expect(variablesOf(fn).KAFKA_CLIENT_ID, name).toBe('narad-orders-eu');
    }
    expect(effective(template, api?.Properties)).toMatchObject({
      CorsConfiguration: {
        AllowOrigins: ['https://app.example.com', 'https://admin.example.com:8443'],
        AllowMethods: ['GET', 'POST'],
        AllowHeaders: expect.arrayContaining(['authorization', 'content-type', 'x-api-key']),
        ExposeHeaders: expect.arrayContaining(['location', 'retry-after']),
        AllowCredentials: false,
      },
    });
  }, 120_000);
});

type MetricStat = {
  Metric: {
    Namespace: string;
    MetricName: string;
    Dimensions: Array<{ Name: string; Value: unknown }>;
  };
  Stat: string;
};
type AlarmMetric = { Id: string; Expression?: string; MetricStat?: MetricStat };

describe('operations: alarms, their SNS topic and the dashboard (docs/operations.md)', () => {
  const alarms = () => resourcesOfType(template, 'AWS::CloudWatch::Alarm');
  const alarm = (id: string) => {
    const found = alarms()[id];
    expect(found, id).toBeDefined();
    return found?.Properties as Record<string, unknown>;
  };
  const dimensionsOf = (stat: MetricStat | undefined) =>
    Object.fromEntries((stat?.Metric.Dimensions ?? []).map(({ Name, Value }) => [Name, Value]));
  const functionIds = () => Object.keys(resourcesOfType(template, 'AWS::Lambda::Function'));

  it('notifies one SNS topic from every alarm, and subscribes alarmEmail only when it is given', () => {
    expect(resourcesOfType(template, 'AWS::SNS::Topic')).toHaveProperty('AlarmTopic');
    const subscription = template.Resources.AlarmTopicEmail as Resource & { Condition?: string };
    expect(subscription.Condition).toBe('HasAlarmEmail');
    expect(subscription.Properties).toMatchObject({
      Protocol: 'email',
      Endpoint: { Ref: 'AlarmEmail' },
    });
    expect(template.Parameters.AlarmEmail?.Default).toBe('');
    expect(Object.keys(alarms()).length).toBeGreaterThan(0);
    for (const [id, { Properties }] of Object.entries(alarms())) {
      expect(Properties.AlarmActions, id).toEqual([{ Ref: 'AlarmTopic' }]);
      expect(Properties.OKActions, id).toEqual([{ Ref: 'AlarmTopic' }]);
    }
  });

  it('watches the errors and throttles of every function and the OffsetLag of every consumer', () => {
    const mappings = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping');
    const consumers = new Set(
      Object.values(mappings).map(
        (m) => (m.Properties.FunctionName as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0],
      ),
    );
    expect(consumers.size).toBe(3);
    for (const fn of functionIds()) {
      const base = fn.replace(/LambdaFunction$/, '');
      for (const metric of ['Errors', 'Throttles', ...(consumers.has(fn) ? ['OffsetLag'] : [])]) {
        expect(alarm(`${base}${metric}Alarm`), `${base} ${metric}`).toMatchObject({
          Namespace: 'AWS/Lambda',
          MetricName: metric,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
        });
      }
    }
    expect(alarm('ProcessOrdersOffsetLagAlarm')).toMatchObject({
      Statistic: 'Maximum',
      Threshold: 1000,
    });
  });

  it('fires on any dead letter of any mapping, and on a fallback backlog of any parked topic that lasts', () => {
    const dead = alarm('DeadLettersAlarm').Metrics as AlarmMetric[];
    const watched = dead
      .filter((m) => m.MetricStat)
      .map((m) => {
        const { function: fn, topic, stage } = dimensionsOf(m.MetricStat);
        expect(m.MetricStat?.Metric).toMatchObject({
          Namespace: METRICS_NAMESPACE,
          MetricName: 'DeadLettered',
        });
        expect(stage).toBe('prod');
        return `${fn} ${topic}`;
      })
      .sort();
    expect(watched).toEqual([
      'processAnalytics system.events',
      'processAnalytics user.events',
      'processOrders orders',
      'userCacheEvents user.events',
    ]);
    expect(alarm('DeadLettersAlarm')).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });

    const backlog = alarm('FallbackBacklogAlarm');
    const topics = (backlog.Metrics as AlarmMetric[])
      .filter((m) => m.MetricStat)
      .map((m) => {
        expect(m.MetricStat?.Metric.MetricName).toBe('FallbackBacklog');
        expect(dimensionsOf(m.MetricStat)).toMatchObject({
          function: 'drainFallback',
          stage: 'prod',
        });
        return dimensionsOf(m.MetricStat).topic;
      });
    expect(topics.sort()).toEqual([...PARKED_TOPICS].sort());
    expect(backlog).toMatchObject({ EvaluationPeriods: 10, DatapointsToAlarm: 10, Threshold: 0 });
  });

  it("fires when the HTTP API's 5xx responses pass 5 % of its requests", () => {
    const rate = alarm('Http5xxRateAlarm');
    const metrics = rate.Metrics as AlarmMetric[];
    expect(metrics.find((m) => m.Expression)?.Expression).toBe('100 * m0 / m1');
    expect(metrics.map((m) => m.MetricStat?.Metric.MetricName).filter(Boolean)).toEqual([
      '5xx',
      'Count',
    ]);
    expect(dimensionsOf(metrics[1]?.MetricStat)).toEqual({ ApiId: { Ref: 'HttpApi' } });
    expect(rate.Threshold).toBe(5);
  });

  it('has one dashboard with throughput, failures, backlog, lag and latency', () => {
    const dashboards = Object.values(resourcesOfType(template, 'AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.parse(
      ((dashboards[0] as Resource).Properties.DashboardBody as { 'Fn::Sub': string })['Fn::Sub'],
    ) as { widgets: Array<{ properties: { title: string; metrics: unknown[][] } }> };
    const titles = body.widgets.map((widget) => widget.properties.title).join(' | ');
    for (const part of ['Throughput', 'Failures', 'backlog', 'lag', 'Latency'])
      expect(titles).toContain(part);
    const names = body.widgets.flatMap((widget) =>
      widget.properties.metrics.map((metric) => metric[1]),
    );
    expect(names).toEqual(
      expect.arrayContaining([
        'OrdersAccepted',
        'DeadLettered',
        'FallbackBacklog',
        'OffsetLag',
        'Latency',
        'CacheHits',
      ]),
    );
  });
});

describe('KAFKA_CLIENT_ID in a development stage', () => {
  it('reaches the functions from the environment (or .env), as the design document sets it', async () => {
    const print = async (env: NodeJS.ProcessEnv) => {
      const { stdout } = await runServerless(['print', '--format', 'json'], env);
      return (JSON.parse(stdout) as { provider: { environment: Record<string, string> } }).provider
        .environment.KAFKA_CLIENT_ID;
    };

    expect(await print({ KAFKA_CLIENT_ID: 'narad' })).toBe('narad');
    expect(await print({ KAFKA_CLIENT_ID: undefined })).toBe('narad-services-dev');
  }, 60_000);
});
