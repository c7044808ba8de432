import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { testKafka, uniqueTopic } from '../support/kafka.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const stack = inject('stack');

/** Resolves with everything printed so far once `pattern` appears. */
const printed = (stream: NodeJS.ReadableStream, pattern: RegExp) =>
  new Promise<string>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(
      () => reject(new Error(`${pattern} not printed within 30 s; printed:\n${text}`)),
      30_000,
    );
    stream.on('data', (chunk) => {
      text += chunk;
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
  });

describe('npm run watch', () => {
  it('prints each record of a topic as it arrives, and stops on Ctrl-C', async () => {
    const topic = uniqueTopic('watch-cli');
    const child = spawn('npm', ['run', '--silent', 'watch', '--', topic], {
      cwd: ROOT,
      // A process group of its own, so Ctrl-C can reach it the way a terminal sends it.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KAFKA_BROKERS: stack.kafkaBrokers },
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    await printed(child.stderr, /watch: .* \(Ctrl-C stops\)/);

    const producer = testKafka(stack.kafkaBrokers).producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        { key: 'order-7', value: '{"total":7.5}', headers: { 'x-correlation-id': 'corr-7' } },
      ],
    });
    await producer.disconnect();
    const output = await printed(child.stdout, /order-7/);
    process.kill(-(child.pid as number), 'SIGINT');

    expect(output).toMatch(
      new RegExp(
        `^${topic.replaceAll('.', '\\.')}\\[\\d+\\]@0 key=order-7 correlation=corr-7 \\{"total":7\\.5\\}$`,
        'm',
      ),
    );
    // npm itself ends by the SIGINT, as in a terminal; the watcher under it exits 0.
    const { code, signal } = await exited;
    expect(code === 0 || signal === 'SIGINT').toBe(true);
  }, 60_000);
});
