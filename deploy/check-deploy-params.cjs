/**
 * A serverless plugin (listed in serverless.yml): before a stage is packaged, and so before it
 * is deployed, it checks the params a deploy takes (`custom.deployParams`, resolved) and
 * refuses, in one message naming every missing or inconsistent param, a template that
 * CloudFormation would reject at deploy time or, worse, accept: functions that talk to Kafka
 * outside the cluster's VPC, a user service on the function's own loopback, secret references
 * that a rotation could never move. Every stage gets the format and consistency checks; a stage
 * that runs the production profile (nodeEnv=production) must also name everything.
 *
 * Plain CommonJS: osls loads plugins with require().
 */

const MSK_CLUSTER_ARN = /^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[^/]+\/[^/]+$/;
const SUBNET_ID = /^subnet-[0-9a-f]+$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]+$/;
/** An SSM parameter version: what `aws ssm put-parameter` answers as `Version`. */
const SSM_VERSION = /^[1-9]\d*$/;
/**
 * A Secrets Manager VersionId: 32-64 characters (a UUID unless the caller chose it). A colon or
 * brace would end the `{{resolve:...}}` segment it goes into.
 */
const SECRET_VERSION_ID = /^[^\s:{}]{32,64}$/;
/** A browser origin as API Gateway compares it: scheme, host, optional port, no path. */
const HTTPS_ORIGIN = /^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;

const DEPLOYING = 'docs/deploying.md';

/** `a,b` -> ['a', 'b']; '' (or nothing) -> []. */
const listOf = (value) => (value === undefined || value === '' ? [] : String(value).split(','));

/**
 * 127.0.0.0/8, ::1, localhost and the unspecified addresses: inside a Lambda function they
 * name the function's own sandbox, where no other service runs. Kept in step with
 * lib/config.ts, which refuses the same for USER_SOURCE_URL when a function starts.
 */
const isLoopbackHost = (hostname) =>
  hostname === 'localhost' ||
  hostname.endsWith('.localhost') ||
  /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) ||
  ['[::1]', '[::]', '0.0.0.0'].includes(hostname);

const isWholeNumber = (value, min) => /^\d+$/.test(String(value)) && Number(value) >= min;

const clusterProblems = ({ mskClusterArn }, production) => {
  if (!mskClusterArn) {
    return production
      ? [
          'mskClusterArn is missing: pass --param="mskClusterArn=arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>" (the cluster the consumers read and the producers write)',
        ]
      : [];
  }
  return MSK_CLUSTER_ARN.test(mskClusterArn)
    ? []
    : [
        `mskClusterArn "${mskClusterArn}" is not an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)`,
      ];
};

const vpcProblems = ({ subnetIds, securityGroupIds }, production) => {
  const subnets = listOf(subnetIds);
  const groups = listOf(securityGroupIds);
  const problems = [
    ...subnets
      .filter((id) => !SUBNET_ID.test(id))
      .map((id) => `subnetIds has "${id}", which is not a subnet id (subnet-<hex>, no spaces)`),
    ...groups
      .filter((id) => !SECURITY_GROUP_ID.test(id))
      .map(
        (id) =>
          `securityGroupIds has "${id}", which is not a security group id (sg-<hex>, no spaces)`,
      ),
  ];
  if (subnets.length > 0 && groups.length === 0) {
    problems.push(
      'securityGroupIds is missing while subnetIds is set: the functions that talk to Kafka join the VPC with both; pass --param="securityGroupIds=sg-..." (a group the brokers accept on 9098)',
    );
  } else if (groups.length > 0 && subnets.length === 0) {
    problems.push(
      'subnetIds is missing while securityGroupIds is set: the functions that talk to Kafka join the VPC with both; pass --param="subnetIds=subnet-...,subnet-..." (private subnets of the cluster\'s VPC with a route to a NAT gateway)',
    );
  } else if (production && subnets.length === 0) {
    problems.push(
      'subnetIds and securityGroupIds are missing: MSK brokers are reachable only from the cluster\'s VPC, so every function that talks to Kafka must join it; pass --param="subnetIds=subnet-...,subnet-..." --param="securityGroupIds=sg-..."',
    );
  }
  return problems;
};

const userSourceProblems = ({ userSourceUrl }, production) => {
  if (!userSourceUrl) {
    return production
      ? [
          'userSourceUrl is missing: pass --param="userSourceUrl=https://<user service>" (GET /users/{userId} reads profiles from it)',
        ]
      : [];
  }
  let url;
  try {
    url = new URL(userSourceUrl);
  } catch {
    return [`userSourceUrl "${userSourceUrl}" is not a URL`];
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return [`userSourceUrl "${userSourceUrl}" must be an http(s) URL`];
  }
  return production && isLoopbackHost(url.hostname)
    ? [
        `userSourceUrl "${userSourceUrl}" is a loopback address: in Lambda that is the function's own sandbox, where no user service runs; pass the user service's address`,
      ]
    : [];
};

/** The versions the secret references name, so that a new version reaches the functions. */
const secretVersionProblems = (params, production) => {
  if (!production) return [];
  const versions = [
    ['upstashUrlVersion', SSM_VERSION, 'the Version of the SSM parameter with the Upstash URL'],
    [
      'upstashTokenVersion',
      SECRET_VERSION_ID,
      'the VersionId of the Secrets Manager secret with the Upstash token',
    ],
    [
      'serviceApiKeyVersion',
      SECRET_VERSION_ID,
      'the VersionId of the Secrets Manager secret with the service API key',
    ],
  ];
  return versions.flatMap(([name, pattern, what]) => {
    const value = params[name];
    if (!value) return [`${name} is missing: pass --param="${name}=<${what}>"`];
    return pattern.test(String(value)) ? [] : [`${name} "${value}" is not ${what}`];
  });
};

const httpApiProblems = ({
  corsAllowedOrigins,
  apiThrottleRate,
  apiThrottleBurst,
  healthConcurrency,
}) => [
  ...listOf(corsAllowedOrigins)
    .filter((origin) => !HTTPS_ORIGIN.test(origin))
    .map(
      (origin) =>
        `corsAllowedOrigins has "${origin}", which is not an https origin (https://host[:port], no path, no trailing slash)`,
    ),
  ...(/^\d+(\.\d+)?$/.test(String(apiThrottleRate))
    ? []
    : [`apiThrottleRate "${apiThrottleRate}" must be a number of requests per second, 0 or more`]),
  ...(isWholeNumber(apiThrottleBurst, 0)
    ? []
    : [`apiThrottleBurst "${apiThrottleBurst}" must be a whole number of requests, 0 or more`]),
  ...(isWholeNumber(healthConcurrency, 1)
    ? []
    : [
        `healthConcurrency "${healthConcurrency}" must be a whole number of concurrent /health invocations, 1 or more`,
      ]),
];

/** A plain address SNS can send to: no spaces, one @, a dot in the domain. */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The alarms' address and thresholds (deploy/operations.cjs, docs/operations.md). */
const alarmProblems = ({
  alarmEmail,
  alarmBacklogMinutes,
  alarmOffsetLag,
  alarmFunctionErrors,
  alarmFunctionThrottles,
  alarmHttp5xxPercent,
}) => [
  ...(alarmEmail && !EMAIL.test(String(alarmEmail))
    ? [`alarmEmail "${alarmEmail}" is not an email address (or leave it empty for none)`]
    : []),
  ...(isWholeNumber(alarmBacklogMinutes, 1) && Number(alarmBacklogMinutes) <= 1440
    ? []
    : [
        `alarmBacklogMinutes "${alarmBacklogMinutes}" must be a whole number of minutes from 1 to 1440 (CloudWatch evaluates at most a day)`,
      ]),
  ...(isWholeNumber(alarmOffsetLag, 0)
    ? []
    : [`alarmOffsetLag "${alarmOffsetLag}" must be a whole number of records, 0 or more`]),
  ...[
    ['alarmFunctionErrors', alarmFunctionErrors],
    ['alarmFunctionThrottles', alarmFunctionThrottles],
  ]
    .filter(([, value]) => !isWholeNumber(value, 1))
    .map(([name, value]) => `${name} "${value}" must be a whole number of invocations, 1 or more`),
  ...(/^\d+(\.\d+)?$/.test(String(alarmHttp5xxPercent)) &&
  Number(alarmHttp5xxPercent) > 0 &&
  Number(alarmHttp5xxPercent) < 100
    ? []
    : [`alarmHttp5xxPercent "${alarmHttp5xxPercent}" must be a percentage above 0 and below 100`]),
];

/** Every problem with `params`, each naming its param; empty when they can be deployed. */
const problemsOf = (params) => {
  const production = params.nodeEnv === 'production';
  return [
    ...clusterProblems(params, production),
    ...vpcProblems(params, production),
    ...userSourceProblems(params, production),
    ...secretVersionProblems(params, production),
    ...httpApiProblems(params),
    ...alarmProblems(params),
  ];
};

class CheckDeployParams {
  constructor(serverless) {
    this.serverless = serverless;
    // Before package:cleanup, which empties .serverless/: a refused package changes nothing.
    this.hooks = { 'before:package:cleanup': () => this.check() };
  }

  check() {
    const { service } = this.serverless;
    const problems = problemsOf(service.custom?.deployParams ?? {});
    if (problems.length === 0) return;
    throw new this.serverless.classes.Error(
      [
        `Cannot package stage "${service.provider.stage}": ${problems.length === 1 ? 'a deploy param is' : 'deploy params are'} missing or inconsistent.`,
        ...problems.map((problem) => `  - ${problem}`),
        `Nothing was packaged. See ${DEPLOYING}.`,
      ].join('\n'),
    );
  }
}

module.exports = CheckDeployParams;
