import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { startMskBridge } from './bridge.ts';
import { inProcessInvoker } from './invokers.ts';
import { silentLog } from './log.ts';

/**
 * Throughput of the bridge itself: N records already in a 3-partition topic, a no-op handler
 * behind the in-process invoker, time from start until every record has been committed.
 * `node --import tsx local/msk-bridge/throughput.bench.ts [records=20000]` (needs the broker).
 */

const BROKERS = process.env.KAFKA_BROKERS || '127.0.0.1:9092';
const RECORDS = Number(process.argv[2] ?? 20_000);
const BATCH_SIZES = [100, 500];

const kafka = new Kafka({
  clientId: 'msk-bridge-bench',
  brokers: [BROKERS],
  logLevel: logLevel.NOTHING,
});

const fill = async (topic: string) => {
  const producer = kafka.producer();
  await producer.connect();
  const value = JSON.stringify({
    eventId: randomUUID(),
    type: 'USER_ACTION',
    userId: 'u-1',
    timestamp: new Date().toISOString(),
  });
  for (let sent = 0; sent < RECORDS; sent += 1000) {
    const messages = Array.from({ length: Math.min(1000, RECORDS - sent) }, (_, i) => ({
      key: `user-${(sent + i) % 97}`,
      value,
      headers: { 'correlation-id': randomUUID() },
    }));
    await producer.send({ topic, messages });
  }
  await producer.disconnect();
};

const measure = async (topic: string, batchSize: number) => {
  const committed = new Map<number, number>();
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const started = performance.now();
  const bridge = await startMskBridge({
    brokers: BROKERS,
    log: silentLog,
    mappings: [
      {
        id: 'bench#0',
        functionKey: 'bench',
        functionName: 'bench',
        eventSource: 'aws:kafka',
        eventSourceArn: 'arn:aws:kafka:us-east-1:000000000000:cluster/bench/local',
        topic,
        consumerGroupId: `bench-${randomUUID()}`,
        batchSize,
        batchingWindowMs: 1000,
        startingPosition: 'TRIM_HORIZON',
        reportBatchItemFailures: true,
        enabled: true,
      },
    ],
    invoke: inProcessInvoker({ bench: () => undefined }),
    onEvent: (event) => {
      if (event.type !== 'commit') return;
      committed.set(event.partition, event.offset);
      if ([...committed.values()].reduce((sum, offset) => sum + offset, 0) >= RECORDS) done();
    },
  });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  const stats = Object.values(bridge.stats())[0];
  await bridge.stop();
  return { batchSize, seconds, stats };
};

const main = async () => {
  const admin = kafka.admin();
  await admin.connect();
  const topic = `bench.msk-bridge.${randomUUID().slice(0, 8)}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  try {
    await fill(topic);
    console.log(`| records | batchSize | invocations | seconds | records/s |`);
    console.log(`|--------:|----------:|------------:|--------:|----------:|`);
    for (const batchSize of BATCH_SIZES) {
      const { seconds, stats } = await measure(topic, batchSize);
      console.log(
        `| ${RECORDS} | ${batchSize} | ${stats?.invocations} | ${seconds.toFixed(2)} | ${Math.round(RECORDS / seconds)} |`,
      );
    }
  } finally {
    await admin.deleteTopics({ topics: [topic] });
    await admin.disconnect();
  }
};

await main();
