import { KafkaJSConnectionError, KafkaJSNumberOfRetriesExceeded } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KafkaUnavailableError } from '../../lib/errors.ts';
import { classifyKafkaError, isConnectionRefused } from '../../lib/kafka/errors.ts';

/** kafkajs's shape of a failure after its retries: the last error nested under the retries. */
const afterRetries = (message: string) =>
  new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError(message), {
    retryCount: 3,
    retryTime: 800,
  });

describe('kafkajs failures', () => {
  it('tells brokers that refuse connections (down) from a connection dropped under us', () => {
    expect(
      isConnectionRefused(afterRetries('Connection error: connect ECONNREFUSED 127.0.0.1:9092')),
    ).toBe(true);
    expect(isConnectionRefused(afterRetries('Closed connection'))).toBe(false);
    expect(isConnectionRefused(new Error('read ECONNRESET'))).toBe(false);
  });

  it('counts "Broker not connected" (a broker that hangs) as unreachable', () => {
    const failure = classifyKafkaError(new Error('Broker not connected'), 'orders');

    expect(failure).toBeInstanceOf(KafkaUnavailableError);
    expect(failure.message).toMatch(/Kafka is unreachable \(Broker not connected\)/);
  });
});
