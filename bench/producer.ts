import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Partitioners } from 'kafkajs';
import type { StackEndpoints } from '../local/stack.ts';
import { type Benchmark, intFlag } from './support/benchmark.ts';
import { benchKafka, benchTopic, withTopic } from './support/kafka.ts';
import type { Goal, Table } from './support/report.ts';
import { functionEnv, useFunctionEnv, withStack } from './support/stack.ts';
import { fmt, ratio } from './support/stats.ts';

/**
 * Producer throughput: N small JSON messages (keyed by user, one header) to a 6-partition
 * topic, acks=all and idempotent everywhere, in the same run: `kcat -P` (librdkafka, the
 * field's fast C client), raw kafkajs `producer.send`, and the Kafka service's `send` of
 * lib/kafka/producer.ts, both 1,000 messages per send, one send at a time.
 */

const DEFAULT_MESSAGES = 100_000;
const PER_SEND = 1_000;
const PARTITIONS = 6;
const exec = promisify(execFile);

const messageAt = (runId: string, i: number) => ({
  key: `user-${i % 97}`,
  value: {
    eventId: `${runId}-${i}`,
    type: 'USER_ACTION',
    userId: `user-${i % 97}`,
    action: 'view_product',
    timestamp: '2026-11-27T03:05:37.000Z',
  },
});

interface Pass {
  path: string;
  messages: number;
  seconds: number;
  note?: string;
}

const kcatAvailable = async () => {
  try {
    await exec('kcat', ['-V']);
    return true;
  } catch {
    return false;
  }
};

/** `kcat -P` from a file of `key<TAB>value` lines; timed from spawn to exit (flushed). */
const kcatPass = async (brokers: string, topic: string, lines: string): Promise<Pass> => {
  const dir = await mkdtemp(join(tmpdir(), 'narad-bench-kcat-'));
  const file = join(dir, 'messages.tsv');
  await writeFile(file, lines);
  try {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        'kcat',
        [
          '-P',
          '-b',
          brokers,
          '-t',
          topic,
          '-K',
          '\t',
          '-H',
          'x-correlation-id=bench',
          '-X',
          'enable.idempotence=true',
          '-X',
          'acks=all',
        ],
        { stdio: ['pipe', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`kcat exited with ${code}: ${stderr.slice(-500)}`)),
      );
      createReadStream(file).pipe(child.stdin);
    });
    const count = lines.split('\n').filter(Boolean).length;
    return {
      path: 'kcat -P (librdkafka; idempotent, acks=all)',
      messages: count,
      seconds: (performance.now() - started) / 1000,
      note: 'includes process start and metadata',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

const chunksOf = <T>(list: T[], size: number) =>
  Array.from({ length: Math.ceil(list.length / size) }, (_, i) =>
    list.slice(i * size, (i + 1) * size),
  );

/** kafkajs itself: an idempotent producer, the same messages as the service makes of them. */
const kafkajsPass = async (brokers: string, topic: string, runId: string, count: number) => {
  const producer = benchKafka(brokers).producer({
    idempotent: true,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const batches = chunksOf(
    Array.from({ length: count }, (_, i) => {
      const { key, value } = messageAt(runId, i);
      return { key, value: JSON.stringify(value), headers: { 'x-correlation-id': 'bench' } };
    }),
    PER_SEND,
  );
  try {
    await producer.send({ topic, acks: -1, messages: batches[0]?.slice(0, 1) ?? [] }); // warm
    const started = performance.now();
    for (const messages of batches) await producer.send({ topic, acks: -1, messages });
    return {
      path: `kafkajs producer.send, ${fmt(PER_SEND)} per send`,
      messages: count,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await producer.disconnect();
  }
};

/** The Kafka service (lib/services.ts: idempotent, acks=all) as a function uses it. */
const servicePass = async (stack: StackEndpoints, topic: string, runId: string, count: number) => {
  useFunctionEnv(functionEnv(stack));
  const { getServices, closeServices } = await import('../lib/services.ts');
  const kafka = getServices().kafka;
  if (!kafka) throw new Error('the Kafka service is not configured (KAFKA_BROKERS)');
  const batches = chunksOf(
    Array.from({ length: count }, (_, i) => messageAt(runId, i)),
    PER_SEND,
  );
  try {
    await kafka.sendBatch(topic, batches[0]?.slice(0, 1) ?? [], { correlationId: 'bench' }); // warm
    const started = performance.now();
    for (const messages of batches)
      await kafka.sendBatch(topic, messages, { correlationId: 'bench' });
    return {
      path: `Kafka service send (lib/kafka/producer.ts), ${fmt(PER_SEND)} per send`,
      messages: count,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await closeServices();
  }
};

const countMessages = async (brokers: string, topic: string) => {
  const admin = benchKafka(brokers).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, { high, low }) => sum + Number(high) - Number(low), 0);
  } finally {
    await admin.disconnect();
  }
};

export const producerBenchmark: Benchmark = {
  name: 'producer',
  title: 'Producer throughput',
  summary: `messages/s of the Kafka service's send against kafkajs and kcat -P, ${fmt(DEFAULT_MESSAGES)} small messages (--messages N)`,
  options: (flags) => ({
    messages: intFlag(flags, 'messages', DEFAULT_MESSAGES),
    perSend: PER_SEND,
    partitions: PARTITIONS,
  }),
  run: async (options) => {
    const count = Number(options.messages);
    const hasKcat = await kcatAvailable();
    const { passes, stored, expected } = await withStack(async (stack) => {
      const topic = benchTopic('producer');
      const runId = randomUUID().slice(0, 8);
      return withTopic(stack.kafkaBrokers, topic, PARTITIONS, async () => {
        const passes: Pass[] = [];
        if (hasKcat) {
          const lines = Array.from({ length: count }, (_, i) => {
            const { key, value } = messageAt(runId, i);
            return `${key}\t${JSON.stringify(value)}\n`;
          }).join('');
          passes.push(await kcatPass(stack.kafkaBrokers, topic, lines));
        }
        passes.push(await kafkajsPass(stack.kafkaBrokers, topic, runId, count));
        passes.push(await servicePass(stack, topic, runId, count));
        const warmups = 2;
        return {
          passes,
          stored: await countMessages(stack.kafkaBrokers, topic),
          expected: passes.length * count + warmups,
        };
      });
    });
    const rate = (pass: Pass) => pass.messages / pass.seconds;
    const baseline = passes[0] as Pass;
    const table: Table = {
      title: `${fmt(count)} messages of ~${JSON.stringify(messageAt('12345678', 0).value).length} bytes, ${PARTITIONS} partitions, acks=all, idempotent`,
      columns: ['path', 'seconds', 'messages/s', `of ${hasKcat ? 'kcat' : 'kafkajs'}`],
      rows: passes.map((pass) => [
        pass.path,
        fmt(pass.seconds, 2),
        fmt(rate(pass)),
        ratio(rate(pass) / rate(baseline)),
      ]),
      notes: [
        `Check: the topic holds ${fmt(stored)} messages, ${fmt(expected)} expected (every pass, plus one warm-up message per kafkajs pass).`,
        hasKcat
          ? 'kcat runs as a process of its own (C, librdkafka batching and compressing nothing, linger 5 ms); its time includes start-up and fetching metadata.'
          : 'kcat is not installed, so there is no librdkafka row: `apt-get install -y kcat` (Debian package kcat).',
        'kafkajs rows: one send of 1,000 at a time, each awaited until all replicas acknowledged (what a function does), on the same 2 cores as the broker.',
      ],
    };
    const goals: Goal[] = [
      {
        goal: 'every message stored',
        measured: `${fmt(stored)} / ${fmt(expected)}`,
        met: stored === expected,
        why: 'the topic holds a different number of messages than were sent.',
      },
    ];
    return { tables: [table], goals, data: { passes, stored, expected, hasKcat } };
  },
};
