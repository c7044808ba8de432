import { describe, expect, it } from 'vitest';
import { lazyKafkaService } from '../../lib/kafka/lazy-service.ts';
import type { KafkaService, SendResult } from '../../lib/kafka/producer.ts';

// Pure logic of the wrapper; test/integration/consumer-services.test.ts shows a consumer's dead
// letter reaching the real broker through it.

const sent = (topic: string): SendResult => ({
  topic,
  count: 1,
  correlationId: 'c',
  partitions: [{ partition: 0, baseOffset: '0' }],
});

const recordingService = () => {
  const calls: string[] = [];
  let connected = false;
  const service: KafkaService = {
    send: async (topic) => {
      calls.push(`send ${topic}`);
      connected = true;
      return sent(topic);
    },
    sendBatch: async (topic, messages) => {
      calls.push(`sendBatch ${topic} ${messages.length}`);
      connected = true;
      return sent(topic);
    },
    connect: async () => {
      calls.push('connect');
      connected = true;
    },
    get isConnected() {
      return connected;
    },
    disconnect: async () => {
      calls.push('disconnect');
      connected = false;
    },
  };
  return { service, calls };
};

describe('lazyKafkaService', () => {
  it('builds nothing until the first use, then builds once and passes every call on', async () => {
    const { service, calls } = recordingService();
    let loads = 0;
    const lazy = lazyKafkaService(async () => {
      loads += 1;
      return service;
    });

    expect(loads).toBe(0);
    expect(lazy.isConnected).toBe(false);
    await Promise.all([
      lazy.send('a', { n: 1 }),
      lazy.sendBatch('b', [{ value: 1 }, { value: 2 }]),
    ]);
    await lazy.connect();

    expect(loads).toBe(1);
    expect(calls).toEqual(['send a', 'sendBatch b 2', 'connect']);
    expect(lazy.isConnected).toBe(true);
  });

  it('disconnects without building the service when it was never used', async () => {
    let loads = 0;
    const lazy = lazyKafkaService(async () => {
      loads += 1;
      return recordingService().service;
    });

    await lazy.disconnect();

    expect(loads).toBe(0);
  });

  it('tries the load again on the next use after a load failed', async () => {
    const { service } = recordingService();
    let loads = 0;
    const lazy = lazyKafkaService(async () => {
      loads += 1;
      if (loads === 1) throw new Error('cannot load kafkajs');
      return service;
    });

    await expect(lazy.send('a', 1)).rejects.toThrow('cannot load kafkajs');
    await expect(lazy.send('a', 1)).resolves.toMatchObject({ topic: 'a' });
    expect(loads).toBe(2);
  });
});
