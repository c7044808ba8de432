import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { KafkaToolMissingError, NO_LOCAL_BROKER_HINT } from './errors.ts';

/** The java binary: JAVA_HOME's when set (what Maven and the Kafka scripts use), else PATH's. */
export const javaCommand = (): string =>
  process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';

export interface ToolRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** stdout and stderr interleaved, for error messages. */
  output: string;
}

/**
 * Runs a command to completion and collects its output.
 * @throws KafkaToolMissingError when the command does not exist.
 */
export const runTool = (command: string, args: string[], cwd?: string): Promise<ToolRun> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new KafkaToolMissingError(`${command} not found: ${NO_LOCAL_BROKER_HINT}`, {
              cause: error,
            })
          : error,
      );
    });
    child.on('close', (exitCode, signal) =>
      resolve({ exitCode, signal, output: Buffer.concat(chunks).toString('utf8') }),
    );
  });

/** The last `count` non-empty lines of some output, for quoting in an error. */
export const lastLines = (text: string, count: number): string =>
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-count)
    .join('\n');
