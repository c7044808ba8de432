import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runServerless } from '../support/serverless-cli.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const WORK = '.esbuild-deploy-test';
const PACKAGE_DIR = '.serverless-deploy-test';
const CLUSTER = 'arn:aws:kafka:eu-west-1:123456789012:cluster/narad/0f1e2d3c-1';

afterAll(async () => {
  await rm(join(ROOT, WORK), { recursive: true, force: true });
  await rm(join(ROOT, PACKAGE_DIR), { recursive: true, force: true });
});

type Resource = { Type: string; Properties: Record<string, unknown> };

describe('the prod stage, packaged as the README deploys it', () => {
  it('takes the cluster and its VPC as params, reads secrets through CloudFormation references, puts only the producers in the VPC and every protected route behind the session authorizer', async () => {
    await runServerless(
      [
        'package',
        '--stage',
        'prod',
        '--package',
        PACKAGE_DIR,
        `--param=mskClusterArn=${CLUSTER}`,
        '--param=subnetIds=subnet-0a,subnet-0b',
        '--param=securityGroupIds=sg-0c',
      ],
      // Nothing from a developer's shell may leak into a production template.
      {
        ESBUILD_WORK_FOLDER: WORK,
        UPSTASH_REDIS_REST_TOKEN: 'dev-token-that-must-not-ship',
        SERVICE_API_KEY: 'dev-service-key-that-must-not-ship',
        AUTH_MODE: 'none',
      },
    );
    const text = await readFile(
      join(ROOT, PACKAGE_DIR, 'cloudformation-template-update-stack.json'),
      'utf8',
    );
    const template = JSON.parse(text) as {
      Parameters: Record<string, { Default: string }>;
      Resources: Record<string, Resource>;
    };
    const resources = Object.entries(template.Resources);
    const functions = resources.filter(([, resource]) => resource.Type === 'AWS::Lambda::Function');

    expect(text).not.toContain('dev-token-that-must-not-ship');
    expect(text).not.toContain('dev-service-key-that-must-not-ship');
    expect(template.Parameters.MskClusterArn?.Default).toBe(CLUSTER);
    expect(template.Parameters.SubnetIds?.Default).toBe('subnet-0a,subnet-0b');
    for (const [, fn] of functions) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, string> })
        .Variables;
      expect(variables).toMatchObject({
        NODE_ENV: 'production',
        MSK_CLUSTER_ARN: CLUSTER,
        KAFKA_SSL: 'true',
        KAFKA_SASL_MECHANISM: 'aws-iam',
        UPSTASH_REDIS_REST_URL: '{{resolve:ssm:/narad/prod/upstash-url}}',
        UPSTASH_REDIS_REST_TOKEN:
          '{{resolve:secretsmanager:narad/prod/upstash:SecretString:token}}',
        AUTH_MODE: 'session',
        SERVICE_API_KEY: '{{resolve:secretsmanager:narad/prod/service-api-key:SecretString:key}}',
      });
    }
    const inVpc = functions
      .filter(([, fn]) => fn.Properties.VpcConfig !== undefined)
      .map(([name]) => name)
      .sort();
    expect(inVpc).toEqual([
      'CreateOrderLambdaFunction',
      'DrainFallbackLambdaFunction',
      'HealthLambdaFunction',
      'TrackEventsLambdaFunction',
    ]);
    const authorizers = Object.fromEntries(
      resources
        .filter(([, resource]) => resource.Type === 'AWS::ApiGatewayV2::Authorizer')
        .map(([name, resource]) => [name, resource.Properties]),
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
    const routes = Object.fromEntries(
      resources
        .filter(([, resource]) => resource.Type === 'AWS::ApiGatewayV2::Route')
        .map(([, resource]) => [
          resource.Properties.RouteKey,
          (resource.Properties.AuthorizerId as { Ref?: string } | undefined)?.Ref ?? 'none',
        ]),
    );
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
    const mappings = resources.filter(
      ([, resource]) => resource.Type === 'AWS::Lambda::EventSourceMapping',
    );
    for (const [, mapping] of mappings) {
      expect(mapping.Properties.EventSourceArn).toEqual({ Ref: 'MskClusterArn' });
    }
  }, 120_000);
});
