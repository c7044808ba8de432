import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { waitUntil } from '../../local/processes.ts';
import type { StackEndpoints } from '../../local/stack.ts';
import { REPO_ROOT } from './report.ts';
import { freePort } from './stack.ts';

export interface GatewayCounts {
  requests: number;
  commands: number;
}

export interface CountingGateway {
  url: string;
  token: string;
  /** Requests and Redis commands since the last reset (GET /__narad/stats). */
  counts(): Promise<GatewayCounts>;
  /** POST /__narad/stats/reset. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A gateway of the benchmark's own: the same local/upstash-gateway program as the stack's, in a
 * process of its own, in front of the same Redis. The stack's gateway on 8079 is shared with
 * everyone's tests, so its counters would count their requests too.
 */
export const startCountingGateway = async (stack: StackEndpoints): Promise<CountingGateway> => {
  const port = await freePort();
  const token = 'narad-bench-counting-gateway';
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'local/upstash-gateway/main.ts')],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        REDIS_URL: stack.redisUrl,
        UPSTASH_GATEWAY_PORT: String(port),
        UPSTASH_REDIS_REST_TOKEN: token,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let exited: string | undefined;
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2_000);
  });
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `exited (${signal ?? `code ${code}`}): ${stderr}`;
      resolve();
    }),
  );
  const headers = { authorization: `Bearer ${token}` };
  await waitUntil(
    async () => {
      try {
        return (await fetch(url, { signal: AbortSignal.timeout(500) })).ok;
      } catch {
        return false;
      }
    },
    { what: `counting gateway on ${url}`, timeoutMs: 20_000, abortIf: () => exited },
  );
  return {
    url,
    token,
    counts: async () => {
      const response = await fetch(`${url}/__narad/stats`, { headers });
      const stats = (await response.json()) as { requests: { total: number }; commands: number };
      return { requests: stats.requests.total, commands: stats.commands };
    },
    reset: async () => {
      const response = await fetch(`${url}/__narad/stats/reset`, { method: 'POST', headers });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`gateway stats reset answered ${response.status}`);
    },
    stop: async () => {
      if (exited === undefined) {
        child.kill('SIGTERM');
        await exit;
      }
    },
  };
};
