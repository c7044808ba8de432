import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isPidAlive } from '../pids.ts';
import { KafkaInstallError, NO_LOCAL_BROKER_HINT } from './errors.ts';
import {
  KAFKA_TOOLING_DIR,
  KAFKA_VERSION,
  type KafkaBrokerOptions,
  kafkaBrokerOptions,
} from './options.ts';
import { lastLines, runTool } from './run-tool.ts';

const POM_PATH = join(KAFKA_TOOLING_DIR, 'pom.xml');

/** Where the jars of this Kafka version live, and the marker that says they are complete. */
export const kafkaInstallPaths = (cacheDir: string) => {
  const versionDir = join(cacheDir, 'kafka', KAFKA_VERSION);
  return {
    versionDir,
    libsDir: join(versionDir, 'libs'),
    marker: join(versionDir, 'libs.complete.json'),
  };
};

/**
 * The hash of the pom without its comments: a changed dependency (say, a new log4j) must
 * re-resolve even at the same Kafka version, a reworded comment need not.
 */
const pomDigest = async (): Promise<string> => {
  const pom = await readFile(POM_PATH, 'utf8');
  return createHash('sha256')
    .update(pom.replace(/<!--[\s\S]*?-->/g, ''))
    .digest('hex');
};

const readMarkerDigest = async (marker: string): Promise<string | undefined> => {
  try {
    return (JSON.parse(await readFile(marker, 'utf8')) as { pomSha256?: string }).pomSha256;
  } catch {
    return undefined;
  }
};

/**
 * Whether the jars for the current pom are in the cache (the marker is written last, so a
 * download that died half-way counts as not installed). Never throws.
 */
export const isKafkaBrokerInstalled = async (
  overrides: Partial<KafkaBrokerOptions> = {},
): Promise<boolean> => {
  const { marker } = kafkaInstallPaths(kafkaBrokerOptions(overrides).cacheDir);
  return (await readMarkerDigest(marker)) === (await pomDigest());
};

const resolveJarsWithMaven = async (outputDir: string): Promise<void> => {
  const run = await runTool('mvn', [
    '-q',
    '-B',
    '-Dstyle.color=never',
    '-f',
    POM_PATH,
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${outputDir}`,
  ]);
  if (run.exitCode !== 0) {
    throw new KafkaInstallError(
      `Maven could not resolve Kafka ${KAFKA_VERSION} (exit ${run.exitCode ?? run.signal}):\n` +
        `${lastLines(run.output, 25)}\n` +
        `Check that Maven Central is reachable (run \`mvn -B -f ${POM_PATH} dependency:tree\` ` +
        `for details), or ${NO_LOCAL_BROKER_HINT}.`,
    );
  }
  const brokerJar = join(outputDir, `kafka_2.13-${KAFKA_VERSION}.jar`);
  await access(brokerJar).catch((error: unknown) => {
    throw new KafkaInstallError(
      `Maven finished but ${brokerJar} is missing; is kafka_2.13 still a dependency in ${POM_PATH}?`,
      { cause: error },
    );
  });
};

/** Removes staging folders of installs whose process died (killed, machine restarted). */
const removeAbandonedStaging = async (versionDir: string): Promise<void> => {
  const names = await readdir(versionDir).catch(() => [] as string[]);
  for (const name of names) {
    const owner = /^libs\.partial-(\d+)$/.exec(name)?.[1];
    if (owner && !isPidAlive(Number(owner))) {
      await rm(join(versionDir, name), { recursive: true, force: true });
    }
  }
};

/**
 * Makes sure the broker's jars are in `<cacheDir>/kafka/<version>/libs` and returns that folder.
 * Runs Maven only when the completion marker is missing or was written for another pom; jars
 * land in a staging folder first, so an interrupted run never looks complete.
 * @throws KafkaToolMissingError when `mvn` is not installed; KafkaInstallError when Maven fails.
 */
export const installKafkaBroker = async (
  overrides: Partial<KafkaBrokerOptions> = {},
): Promise<string> => {
  const { versionDir, libsDir, marker } = kafkaInstallPaths(kafkaBrokerOptions(overrides).cacheDir);
  if (await isKafkaBrokerInstalled(overrides)) return libsDir;

  const stagingDir = join(versionDir, `libs.partial-${process.pid}`);
  await removeAbandonedStaging(versionDir);
  await mkdir(versionDir, { recursive: true });
  try {
    await resolveJarsWithMaven(stagingDir);
    // Another process may have finished the same install while Maven ran here.
    if (await isKafkaBrokerInstalled(overrides)) return libsDir;
    await rm(marker, { force: true });
    await rm(libsDir, { recursive: true, force: true });
    await rename(stagingDir, libsDir);
    const completion = { kafkaVersion: KAFKA_VERSION, pomSha256: await pomDigest() };
    await writeFile(marker, `${JSON.stringify({ ...completion, at: new Date() }, null, 2)}\n`);
    return libsDir;
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
};
