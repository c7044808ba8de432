import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { fallbackListKey, sendWithFallback } from '../../lib/fallback/messages.ts';
import { countMessages, createTopic, uniqueTopic } from '../support/kafka.ts';
import { inspector, keygen } from '../support/redis.ts';
import { CLOSED_BROKER, servicesFor } from '../support/services.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const stack = inject('stack');
const keys = keygen(inspector(stack));
afterAll(keys.cleanup);

/** Runs `npm run drain -- <args>` as an operator would, against the local stack. */
const drainCommand = (...args: string[]) =>
  new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'drain', '--', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        KAFKA_BROKERS: stack.kafkaBrokers,
        UPSTASH_REDIS_REST_URL: stack.upstashUrl,
        UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
      },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, output }));
  });

describe('npm run drain', () => {
  it("replays a topic's fallback list to Kafka and says what it moved", async () => {
    const topic = uniqueTopic('drain-cli');
    await createTopic(stack.kafkaBrokers, topic);
    keys.track(fallbackListKey(topic));
    const down = servicesFor(stack, { kafkaBrokers: CLOSED_BROKER });
    await sendWithFallback(down, topic, [
      { value: { n: 1 } },
      { value: { n: 2 } },
      { value: { n: 3 } },
    ]);

    const { code, output } = await drainCommand(topic);

    expect(output).toContain(`drain: ${topic}: sent 3, moved aside 0, remaining 0`);
    expect(code).toBe(0);
    expect(await countMessages(stack.kafkaBrokers, topic)).toBe(3);
  }, 60_000);
});
