import { describe, expect, it } from 'vitest';
import { describePlan, type Probes, planKafka, planRedis } from '../../local/dev-plan.ts';

const LOCAL_BROKERS = '127.0.0.1:9092';
const LOCAL = { upstashUrl: 'http://127.0.0.1:8079', redisUrl: 'redis://127.0.0.1:6379' };

/** A machine described by what answers and what is installed. */
const machine = ({
  answering = [] as string[],
  hanging = [] as string[],
  installed = [] as string[],
}: {
  answering?: string[];
  /** Accept TCP connections but never answer a Kafka request. */
  hanging?: string[];
  installed?: string[];
}): Probes => ({
  tcpAnswers: async (hostPorts) =>
    hostPorts.every((one) => answering.includes(one) || hanging.includes(one)),
  kafkaProblem: async (hostPorts) =>
    hostPorts.some((one) => hanging.includes(one))
      ? 'accepts connections but does not answer Kafka requests'
      : hostPorts.every((one) => answering.includes(one))
        ? undefined
        : 'does not answer',
  httpAnswers: async (url) => answering.includes(url),
  hasCommand: (command) => installed.includes(command),
});

describe('what npm start runs for Kafka', () => {
  it('uses brokers named in KAFKA_BROKERS when they answer', async () => {
    const plan = await planKafka(
      { KAFKA_BROKERS: 'kafka.internal:9092' },
      LOCAL_BROKERS,
      machine({ answering: ['kafka.internal:9092'] }),
    );
    expect(plan).toEqual({ mode: 'external', address: 'kafka.internal:9092' });
  });

  it('embeds Kafka, and says why, when KAFKA_BROKERS names brokers that do not answer', async () => {
    const plan = await planKafka(
      { KAFKA_BROKERS: '127.0.0.1:1' },
      LOCAL_BROKERS,
      machine({ installed: ['java', 'mvn'] }),
    );
    expect(plan).toEqual({ mode: 'embedded', reason: 'KAFKA_BROKERS=127.0.0.1:1 does not answer' });
  });

  it('embeds Kafka, and says why, when KAFKA_BROKERS names a broker that hangs', async () => {
    const plan = await planKafka(
      { KAFKA_BROKERS: '127.0.0.1:19999' },
      LOCAL_BROKERS,
      machine({ hanging: ['127.0.0.1:19999'], installed: ['java', 'mvn'] }),
    );
    expect(plan).toEqual({
      mode: 'embedded',
      reason:
        'KAFKA_BROKERS=127.0.0.1:19999 accepts connections but does not answer Kafka requests',
    });
  });

  it('embeds Kafka instead of waiting on a local broker port that hangs', async () => {
    const plan = await planKafka(
      {},
      LOCAL_BROKERS,
      machine({ hanging: [LOCAL_BROKERS], installed: ['java', 'mvn'] }),
    );
    expect(plan).toEqual({
      mode: 'embedded',
      reason: `the local broker on ${LOCAL_BROKERS} accepts connections but does not answer Kafka requests`,
    });
  });

  it('reuses or starts the local broker when it answers or Java and Maven can run it', async () => {
    expect(await planKafka({}, LOCAL_BROKERS, machine({ answering: [LOCAL_BROKERS] }))).toEqual({
      mode: 'local',
    });
    expect(
      await planKafka(
        { KAFKA_BROKERS: LOCAL_BROKERS },
        LOCAL_BROKERS,
        machine({ installed: ['java', 'mvn'] }),
      ),
    ).toEqual({ mode: 'local' });
  });

  it('embeds Kafka on a machine with neither a broker nor Java and Maven', async () => {
    const plan = await planKafka({}, LOCAL_BROKERS, machine({ installed: ['java'] }));
    expect(plan).toMatchObject({ mode: 'embedded', reason: expect.stringContaining('Maven') });
  });

  it('embeds Kafka when NARAD_EMBEDDED asks for it, whatever answers', async () => {
    const plan = await planKafka(
      { NARAD_EMBEDDED: 'redis, kafka' },
      LOCAL_BROKERS,
      machine({ answering: [LOCAL_BROKERS] }),
    );
    expect(plan.mode).toBe('embedded');
  });
});

describe('what npm start runs for Redis', () => {
  it('uses an Upstash endpoint named in UPSTASH_REDIS_REST_URL when it answers', async () => {
    const plan = await planRedis(
      { UPSTASH_REDIS_REST_URL: 'https://eu1.upstash.io/' },
      LOCAL,
      machine({ answering: ['https://eu1.upstash.io'] }),
    );
    expect(plan).toEqual({ mode: 'external', address: 'https://eu1.upstash.io' });
  });

  it('embeds Redis when UPSTASH_REDIS_REST_URL names an endpoint that does not answer', async () => {
    const plan = await planRedis(
      { UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:2' },
      LOCAL,
      machine({ answering: ['127.0.0.1:6379'], installed: ['redis-server'] }),
    );
    expect(plan).toEqual({
      mode: 'embedded',
      reason: 'UPSTASH_REDIS_REST_URL=http://127.0.0.1:2 does not answer',
    });
  });

  it('runs the local gateway when a Redis answers or redis-server is installed', async () => {
    expect(await planRedis({}, LOCAL, machine({ answering: ['127.0.0.1:6379'] }))).toEqual({
      mode: 'local',
    });
    expect(
      await planRedis(
        { UPSTASH_REDIS_REST_URL: LOCAL.upstashUrl },
        LOCAL,
        machine({ installed: ['redis-server'] }),
      ),
    ).toEqual({ mode: 'local' });
  });

  it('embeds Redis on a machine with no Redis and no redis-server', async () => {
    const plan = await planRedis({}, LOCAL, machine({}));
    expect(plan).toMatchObject({
      mode: 'embedded',
      reason: expect.stringContaining('redis-server'),
    });
  });
});

describe('the line npm start prints about a part', () => {
  it('says EMBEDDED, why, and that the data does not outlive the process', () => {
    expect(describePlan('Redis', { mode: 'embedded', reason: 'no Redis here' })).toBe(
      'Redis: EMBEDDED in memory (no Redis here); data is lost when npm start stops',
    );
  });
});
