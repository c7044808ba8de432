import { describe, expect, it } from 'vitest';
import { RequestQueue } from '../../lib/kafka/request-queue-fix.ts';

const queue = () =>
  new RequestQueue({
    logger: { debug: () => undefined },
    clientId: 'test',
    broker: 'b:9092',
    enforceRequestTimeout: true,
    requestTimeout: 30_000,
  } as ConstructorParameters<typeof RequestQueue>[0]);

describe('the kafkajs request-queue fix', () => {
  it('schedules no check when nothing is waiting and nothing is throttled (no 1 ms timer loop)', () => {
    const idle = queue();
    idle.scheduleCheckPendingRequests();
    expect(idle.throttleCheckTimeoutId).toBeNull();
  });

  it('still schedules a check while requests are waiting', () => {
    const busy = queue();
    busy.pending.push({});
    busy.scheduleCheckPendingRequests();
    expect(busy.throttleCheckTimeoutId).not.toBeNull();
    clearTimeout(busy.throttleCheckTimeoutId ?? undefined);
  });

  it('still schedules a check for the end of a broker throttle', () => {
    const throttled = queue();
    throttled.throttledUntil = Date.now() + 60_000;
    throttled.scheduleCheckPendingRequests();
    expect(throttled.throttleCheckTimeoutId).not.toBeNull();
    clearTimeout(throttled.throttleCheckTimeoutId ?? undefined);
  });

  it("lets an idle connection's timeout interval release the process, and holds it while requests are in flight", () => {
    const connection = queue() as RequestQueue & {
      inflight: Map<number, unknown>;
      requestTimeoutIntervalId: NodeJS.Timeout;
      scheduleRequestTimeoutCheck(): void;
    };
    connection.scheduleRequestTimeoutCheck();
    expect(connection.requestTimeoutIntervalId.hasRef()).toBe(false);

    connection.inflight.set(1, {});
    connection.scheduleRequestTimeoutCheck();
    expect(connection.requestTimeoutIntervalId.hasRef()).toBe(true);
    connection.destroy();
  });
});
