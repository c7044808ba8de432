import { access, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runServerless } from '../support/serverless-cli.ts';
import { PROD_PARAMS, paramArgs } from './support/template.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const WORK = '.esbuild-deploy-params-test';
const PACKAGE_DIR = '.serverless-deploy-params-test';
const TEMPLATE = join(ROOT, PACKAGE_DIR, 'cloudformation-template-update-stack.json');
/** A developer's shell: none of it may stand in for a missing prod param. */
const SHELL = {
  ESBUILD_WORK_FOLDER: WORK,
  MSK_CLUSTER_ARN: 'arn:aws:kafka:us-east-1:000000000000:cluster/dev-shell/0000-1',
  NARAD_SUBNET_IDS: 'subnet-0dev',
  NARAD_SECURITY_GROUP_IDS: 'sg-0dev',
  USER_SOURCE_URL: 'https://users.dev.example.com',
};

afterAll(async () => {
  await rm(join(ROOT, WORK), { recursive: true, force: true });
  await rm(join(ROOT, PACKAGE_DIR), { recursive: true, force: true });
});

// Every package here is refused, before osls empties .serverless/: so these can run beside
// deploy-package.test.ts, whose packages go through .serverless/ on their way out.

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** The output of a `serverless package` of the prod stage that must fail; throws if it did not. */
const refusedPackage = async (params: Record<string, string>): Promise<string> => {
  await rm(join(ROOT, PACKAGE_DIR), { recursive: true, force: true });
  try {
    await runServerless(
      ['package', '--stage', 'prod', '--package', PACKAGE_DIR, ...paramArgs(params)],
      SHELL,
    );
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`serverless package --stage prod succeeded with ${JSON.stringify(params)}`);
};

const without = (name: keyof typeof PROD_PARAMS) =>
  Object.fromEntries(Object.entries(PROD_PARAMS).filter(([key]) => key !== name));

describe('serverless package --stage prod refuses missing or inconsistent params', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    [
      'no mskClusterArn',
      without('mskClusterArn'),
      '- mskClusterArn is missing: pass --param="mskClusterArn=arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>"',
    ],
    [
      'subnetIds without securityGroupIds',
      without('securityGroupIds'),
      '- securityGroupIds is missing while subnetIds is set: the functions that talk to Kafka join the VPC with both',
    ],
    [
      'securityGroupIds without subnetIds',
      without('subnetIds'),
      '- subnetIds is missing while securityGroupIds is set: the functions that talk to Kafka join the VPC with both',
    ],
    [
      'no VPC at all',
      Object.fromEntries(
        Object.entries(PROD_PARAMS).filter(
          ([key]) => !['subnetIds', 'securityGroupIds'].includes(key),
        ),
      ),
      "- subnetIds and securityGroupIds are missing: MSK brokers are reachable only from the cluster's VPC",
    ],
    [
      'no userSourceUrl',
      without('userSourceUrl'),
      '- userSourceUrl is missing: pass --param="userSourceUrl=https://<user service>"',
    ],
    [
      'a loopback userSourceUrl',
      { ...PROD_PARAMS, userSourceUrl: 'http://127.0.0.1:8090' },
      '- userSourceUrl "http://127.0.0.1:8090" is a loopback address',
    ],
    [
      'no version of the Upstash token',
      without('upstashTokenVersion'),
      '- upstashTokenVersion is missing: pass --param="upstashTokenVersion=<the VersionId of the Secrets Manager secret with the Upstash token>"',
    ],
    [
      'an origin with a path',
      { ...PROD_PARAMS, corsAllowedOrigins: 'https://app.example.com/' },
      '- corsAllowedOrigins has "https://app.example.com/", which is not an https origin',
    ],
    [
      'an alarm email that is no address',
      { ...PROD_PARAMS, alarmEmail: 'ops at example.com' },
      '- alarmEmail "ops at example.com" is not an email address',
    ],
    [
      'a backlog alarm of zero minutes',
      { ...PROD_PARAMS, alarmBacklogMinutes: '0' },
      '- alarmBacklogMinutes "0" must be a whole number of minutes from 1 to 1440',
    ],
  ];

  it.each(cases)(
    '%s: one message naming it, and nothing packaged',
    async (_, params, problem) => {
      const output = await refusedPackage(params);

      expect(output).toContain(
        'Cannot package stage "prod": a deploy param is missing or inconsistent.',
      );
      expect(output).toContain(problem);
      expect(output.match(/^ {2}- /gm)).toHaveLength(1);
      expect(await exists(TEMPLATE)).toBe(false);
    },
    60_000,
  );
});
