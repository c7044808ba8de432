import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Runs the serverless CLI as a user would, from the repository root, with `env` on top of
 * ours and stdin closed (`invoke local` reads an event from stdin when it is open). Give it an
 * `ESBUILD_WORK_FOLDER` of its own so it never rebuilds under a running `serverless offline`.
 * @throws with both outputs when it exits non-zero.
 */
export const runServerless = (
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ stdout: string; stderr: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'node_modules/serverless/bin/serverless.js'), ...args],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 90_000,
        env: { ...process.env, ...env },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0
        ? resolve({ stdout, stderr })
        : reject(
            new Error(
              `serverless ${args.join(' ')} exited ${signal ?? code}:\n${stdout}\n${stderr}`,
            ),
          ),
    );
  });
