import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { parse } from 'yaml';
import { runServerless } from '../../support/serverless-cli.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

export type Resource = {
  Type: string;
  Properties: Record<string, unknown>;
  DependsOn?: string[];
};

export interface Template {
  Parameters: Record<string, { Type: string; Default: string }>;
  Conditions: Record<string, unknown>;
  Resources: Record<string, Resource>;
}

/** What the deploy command of docs/deploying.md passes; the optional HTTP API params keep their defaults. */
export const PROD_PARAMS = {
  mskClusterArn: 'arn:aws:kafka:eu-west-1:123456789012:cluster/narad/0f1e2d3c-1',
  subnetIds: 'subnet-0a,subnet-0b',
  securityGroupIds: 'sg-0c',
  userSourceUrl: 'https://users.internal.example.com',
  upstashUrlVersion: '3',
  upstashTokenVersion: 'a1b2c3d4-e5f6-4789-8abc-def012345678',
  serviceApiKeyVersion: '0f1e2d3c-4b5a-4697-8887-a5b4c3d2e1f0',
};

/** `{name: value}` -> `--param=name=value` arguments, as docs/deploying.md's deploy command passes them. */
export const paramArgs = (params: Record<string, string>): string[] =>
  Object.entries(params).map(([name, value]) => `--param=${name}=${value}`);

/**
 * Runs `serverless package` into `packageDir` (relative to the repository, its own per test
 * file) and returns the CloudFormation template it wrote, as text and parsed.
 */
export const packageTemplate = async (
  packageDir: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ text: string; template: Template }> => {
  await runServerless(['package', '--package', packageDir, ...args], env);
  const text = await readFile(
    join(ROOT, packageDir, 'cloudformation-template-update-stack.json'),
    'utf8',
  );
  return { text, template: JSON.parse(text) as Template };
};

/** The template's resources of one type, by logical id. */
export const resourcesOfType = (template: Template, type: string): Record<string, Resource> =>
  Object.fromEntries(
    Object.entries(template.Resources).filter(([, resource]) => resource.Type === type),
  );

const NO_VALUE = Symbol('AWS::NoValue');

/**
 * `node` as CloudFormation would see it with every parameter at its default: the template's
 * conditions evaluated, each `Fn::If` replaced by the branch taken, `AWS::NoValue` properties
 * dropped, parameter `Ref`s replaced by their values. Knows the few functions the conditions
 * of serverless.yml use (Fn::Not, Fn::Equals, Fn::Join); anything else stays as it is.
 */
export const effective = (template: Template, node: unknown): unknown => {
  const resolved = resolve(template, node);
  return resolved === NO_VALUE ? undefined : resolved;
};

const condition = (template: Template, name: string): boolean => {
  const value = resolve(template, template.Conditions[name]);
  if (typeof value !== 'boolean') throw new Error(`condition ${name} is not a boolean: ${value}`);
  return value;
};

const parameterValue = (template: Template, name: string): unknown => {
  const parameter = template.Parameters[name];
  if (!parameter) return { Ref: name };
  return parameter.Type === 'CommaDelimitedList' ? parameter.Default.split(',') : parameter.Default;
};

const resolve = (template: Template, node: unknown): unknown => {
  if (Array.isArray(node)) {
    return node.map((item) => resolve(template, item)).filter((item) => item !== NO_VALUE);
  }
  if (typeof node !== 'object' || node === null) return node;
  const entries = Object.entries(node);
  const [key, argument] = entries[0] ?? [];
  if (entries.length === 1 && key !== undefined) {
    const args = argument as unknown[];
    if (key === 'Ref') {
      return argument === 'AWS::NoValue' ? NO_VALUE : parameterValue(template, String(argument));
    }
    if (key === 'Fn::If') {
      return resolve(template, condition(template, String(args[0])) ? args[1] : args[2]);
    }
    if (key === 'Fn::Not') return !resolve(template, args[0]);
    if (key === 'Fn::Equals') return resolve(template, args[0]) === resolve(template, args[1]);
    if (key === 'Fn::Join') {
      return (resolve(template, args[1]) as unknown[]).join(String(args[0]));
    }
  }
  return Object.fromEntries(
    entries
      .map(([name, value]) => [name, resolve(template, value)] as const)
      .filter(([, value]) => value !== NO_VALUE),
  );
};

/**
 * The logical ids of the template's functions whose bundle holds kafkajs, i.e. that can open a
 * connection to a broker (send, dead-letter, or ask for metadata). Each handler is bundled the
 * way serverless-esbuild bundles it (serverless.yml custom.esbuild: its externals), and only
 * the modules that put code into the bundle count, so an import that is tree-shaken away
 * does not.
 */
export const functionsBundlingKafka = async (template: Template): Promise<string[]> => {
  const config = parse(await readFile(join(ROOT, 'serverless.yml'), 'utf8')) as {
    custom: { esbuild: { exclude: string[]; platform: string } };
  };
  const functions = Object.entries(resourcesOfType(template, 'AWS::Lambda::Function'));
  const entryOf = (handler: string) => `${handler.slice(0, handler.lastIndexOf('.'))}.ts`;
  const { metafile } = await build({
    absWorkingDir: ROOT,
    entryPoints: functions.map(([, fn]) => entryOf(String(fn.Properties.Handler))),
    bundle: true,
    platform: config.custom.esbuild.platform as 'node',
    format: 'cjs',
    external: config.custom.esbuild.exclude,
    outdir: 'bundle-check',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const bundlesKafka = new Map(
    Object.values(metafile.outputs)
      .filter((output) => output.entryPoint !== undefined)
      .map((output) => [
        output.entryPoint,
        Object.entries(output.inputs).some(
          ([path, input]) => path.includes('node_modules/kafkajs/') && input.bytesInOutput > 0,
        ),
      ]),
  );
  return functions
    .filter(([, fn]) => {
      const entry = entryOf(String(fn.Properties.Handler));
      if (!bundlesKafka.has(entry)) throw new Error(`esbuild did not bundle ${entry}`);
      return bundlesKafka.get(entry);
    })
    .map(([name]) => name)
    .sort();
};
