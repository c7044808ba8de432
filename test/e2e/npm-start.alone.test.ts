import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isPidAlive, isPortOpen } from '../../local/pids.ts';
import { stopByPidFile, waitUntil } from '../../local/processes.ts';
import { api } from '../support/api.ts';
import { startHungBroker } from '../support/hung-broker.ts';
import { testPorts } from '../support/test-stack.ts';
import { withStampDays } from '../support/utc-days.ts';
import { eventually } from '../support/wait.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const stack = inject('stack');
/** Each scenario's npm start serves on its own ports (HTTP, and its Lambda endpoint at +2). */
const firstPort = testPorts(inject('portBase')).ownApps;
const CLOSED_KAFKA = '127.0.0.1:1';
const CLOSED_UPSTASH = 'http://127.0.0.1:2';
/** Accepts connections and never answers: npm start must treat it as it treats a closed port. */
const hungBroker = await startHungBroker();
afterAll(() => hungBroker.close());

/** Every live descendant of `pid`, from /proc (what a terminal's Ctrl-C should take down). */
const descendantsOf = (pid: number): number[] => {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // the process ended while we looked
    }
  }
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const child of parents.get(parent) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
};

interface Scenario {
  name: string;
  port: number;
  env: NodeJS.ProcessEnv;
  /** What /health must say is embedded. */
  embedded: string[];
  /** The line in which npm start must say why it embedded a part. */
  why?: RegExp;
}

// The variables point at the real stack or at closed ports: npm start must take what answers
// and embed the rest, on any machine.
const scenarios: Scenario[] = [
  {
    name: 'with the real stack',
    port: firstPort + 0,
    env: {
      KAFKA_BROKERS: stack.kafkaBrokers,
      UPSTASH_REDIS_REST_URL: stack.upstashUrl,
      UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
    },
    embedded: [],
  },
  {
    name: 'with no Kafka and no Redis reachable (embedded mode)',
    port: firstPort + 10,
    env: { KAFKA_BROKERS: CLOSED_KAFKA, UPSTASH_REDIS_REST_URL: CLOSED_UPSTASH },
    embedded: ['kafka', 'redis'],
  },
  {
    name: 'with the broker but no Redis reachable',
    port: firstPort + 20,
    env: { KAFKA_BROKERS: stack.kafkaBrokers, UPSTASH_REDIS_REST_URL: CLOSED_UPSTASH },
    embedded: ['redis'],
  },
  {
    name: 'with Redis but a broker that hangs (accepts connections, never answers)',
    port: firstPort + 30,
    env: {
      KAFKA_BROKERS: hungBroker.address,
      UPSTASH_REDIS_REST_URL: stack.upstashUrl,
      UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
    },
    embedded: ['kafka'],
    why: /dev: Kafka: EMBEDDED in memory \(KAFKA_BROKERS=127\.0\.0\.1:\d+ accepts connections but does not answer Kafka requests/,
  },
];

describe.each(scenarios)('npm start $name', ({ port, env, embedded, why }) => {
  const apiUrl = `http://127.0.0.1:${port}`;
  const workFolder = `.esbuild-npm-start-${port}`;
  let app: ChildProcess;
  let output = '';

  beforeAll(async () => {
    // A process group of its own, so the test can send SIGINT the way a terminal's Ctrl-C does.
    app = spawn('npm', ['start'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NARAD_EMBEDDED: '',
        HTTP_PORT: String(port),
        LAMBDA_PORT: String(port + 2),
        ESBUILD_WORK_FOLDER: workFolder,
        // Nothing answers there, so npm start runs its demo user service on it: this run's own,
        // not one another run (or a developer's npm start) started on the default port.
        USER_SOURCE_URL: `http://127.0.0.1:${port + 4}`,
        ...env,
      },
    });
    await new Promise<void>((resolve, reject) => {
      const collect = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('dev: API on')) resolve();
      };
      app.stdout?.on('data', collect);
      app.stderr?.on('data', collect);
      app.once('exit', (code) =>
        reject(new Error(`npm start exited (${code}) before it was ready:\n${output}`)),
      );
    });
  }, 120_000);

  // Only if a test failed before its SIGINT: take the whole group down.
  afterAll(async () => {
    if (app.exitCode === null && app.signalCode === null && app.pid) {
      process.kill(-app.pid, 'SIGKILL');
    }
    await rm(join(ROOT, workFolder), { recursive: true, force: true });
  });

  it('says at start which parts are embedded, and /health reports them', async () => {
    for (const part of ['Kafka', 'Redis']) {
      const line = new RegExp(`dev: ${part}: EMBEDDED`);
      if (embedded.includes(part.toLowerCase())) expect(output).toMatch(line);
      else expect(output).not.toMatch(line);
    }
    expect(output.includes('dev: EMBEDDED MODE')).toBe(embedded.length === 2);
    if (why) expect(output).toMatch(why);

    const health = await api(apiUrl, '/health');

    expect(health.status).toBe(200);
    expect(health.body.embedded ?? []).toEqual(embedded);
    expect(health.body.overall).toBe(embedded.length > 0 ? 'degraded' : 'healthy');
    expect(health.body.tests).toMatchObject({
      redis: { status: 'pass' },
      kafka: { status: 'pass' },
    });
  });

  it('serves the whole flow: an order reaches completed, tracked actions reach the daily stats, profiles are read', async () => {
    const userId = `user-${randomUUID().slice(0, 8)}`;
    const created = await api(apiUrl, '/orders', {
      method: 'POST',
      body: {
        userId,
        items: [{ sku: 'SKU-1', quantity: 3, price: 2.5 }],
        currency: 'EUR',
      },
    });
    expect(created.status).toBe(202);
    const order = await eventually(
      () => api(apiUrl, `/orders/${created.body.orderId}`),
      ({ body }) => body.status === 'completed',
      { what: 'order completed' },
    );
    expect(order.body).toMatchObject({ total: 7.5 });

    // GET /users/{id} answers too: the demo user service npm start ran on USER_SOURCE_URL.
    const profile = await api(apiUrl, `/users/${userId}`);
    expect(profile).toMatchObject({ status: 200, body: { userId } });

    const action = `start-${randomUUID().slice(0, 8)}`;
    const events = Array.from({ length: 10 }, (_, i) => ({ userId: `user-${i}`, action }));
    const { result: tracked, days } = await withStampDays(() =>
      api(apiUrl, '/analytics/events', { method: 'POST', body: { events } }),
    );
    expect(tracked.status).toBe(202);
    await eventually(
      () =>
        Promise.all(
          days.map(
            async (day) =>
              (await api<{ actions: Record<string, number> }>(apiUrl, `/analytics/daily/${day}`))
                .body.actions[action] ?? 0,
          ),
        ),
      (counts) => counts.reduce((total, count) => total + count, 0) === 10,
      { what: '10 actions counted' },
    );
  }, 60_000);

  it('stops on SIGINT and leaves no child process behind', async () => {
    const pid = app.pid as number;
    const children = descendantsOf(pid);
    expect(children.length).toBeGreaterThan(0);
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      app.once('exit', (code, signal) => resolve({ code, signal })),
    );

    process.kill(-pid, 'SIGINT');

    // npm itself takes the SIGINT and ends by it, as in a terminal; what it ran must end cleanly.
    const { code, signal } = await exited;
    expect(code === 0 || signal === 'SIGINT').toBe(true);
    await waitUntil(async () => children.every((child) => !isPidAlive(child)), {
      what: `children of npm start (${children.join(', ')})`,
      timeoutMs: 20_000,
    });
    // offline gets the same Ctrl-C, so the runner may notice either first.
    expect(output).toMatch(
      /dev: (SIGINT|serverless offline exited), stopping what this command started/,
    );
    expect(output).not.toMatch(/dev: could not start/);
  }, 60_000);
});

describe('npm start failing half way', () => {
  it('stops what it had already started, here the Upstash gateway, and exits with the reason', async () => {
    // A gateway port and a cache dir of its own, so npm start starts a gateway (over the test
    // Redis) that no one else uses; then serverless offline cannot take its port.
    const gatewayPort = firstPort + 50;
    const held = new Set<Socket>();
    const busyPort = createServer((socket) => {
      held.add(socket);
      socket.on('close', () => held.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      busyPort.once('error', reject);
      busyPort.listen(firstPort + 40, '127.0.0.1', resolve);
    });
    const cacheDir = await mkdtemp(join(tmpdir(), 'narad-npm-start-'));
    try {
      const app = spawn('npm', ['start'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          NARAD_EMBEDDED: '',
          NARAD_CACHE_DIR: cacheDir,
          HTTP_PORT: String(firstPort + 40),
          LAMBDA_PORT: String(firstPort + 42),
          ESBUILD_WORK_FOLDER: '.esbuild-npm-start-failing',
          KAFKA_BROKERS: stack.kafkaBrokers,
          UPSTASH_REDIS_REST_URL: '',
          UPSTASH_GATEWAY_PORT: String(gatewayPort),
          REDIS_URL: stack.redisUrl,
          USER_SOURCE_URL: inject('userSourceUrl'),
        },
      });
      let output = '';
      app.stdout.on('data', (chunk) => (output += chunk));
      app.stderr.on('data', (chunk) => (output += chunk));

      const code = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(() => {
          app.kill('SIGKILL');
          reject(new Error(`npm start did not exit within 100 s:\n${output}`));
        }, 100_000);
        app.once('exit', (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode);
        });
      });

      expect(output).toMatch(/dev: started upstash-gateway/);
      expect(output).toMatch(/dev: could not start: serverless offline/);
      expect(code).toBe(1);
      expect(await isPortOpen('127.0.0.1', gatewayPort)).toBe(false);
    } finally {
      // Should the test fail, the gateway npm start left is stopped here, by its pid file.
      await stopByPidFile(join(cacheDir, 'run', 'upstash-gateway', 'gateway.pid'), 5_000);
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => busyPort.close(resolve));
      await rm(cacheDir, { recursive: true, force: true });
      await rm(join(ROOT, '.esbuild-npm-start-failing'), { recursive: true, force: true });
    }
  }, 120_000);
});
