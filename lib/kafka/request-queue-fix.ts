import RequestQueue from 'kafkajs/src/network/requestQueue/index.js';

/**
 * Two fixes to kafkajs 2.2.4's per-connection request queue (its last release), applied once
 * to the class every kafkajs connection uses.
 *
 * 1. It reschedules `checkPendingRequests` on every run, with a
 * negative delay when nothing is throttled: every open connection then spins a 1 ms timer
 * forever (tulios/kafkajs#1556, #1704; fixes proposed in #1667 and #1768, never merged). It
 * burns CPU in every process holding a connection. This replaces the one method with the
 * upstream fix: schedule a check only when requests are waiting, or when a throttle will end.
 *
 * 2. Its request-timeout interval (every 100 ms, for as long as the connection is open) holds
 * the process: `serverless invoke local` never exits after a function sent to Kafka. The
 * interval now holds the process only while requests are in flight or waiting, which is
 * exactly when something must keep it alive; an idle connection lets it end.
 */
const CHECK_PENDING_REQUESTS_INTERVAL_MS = 10;

const patched = Symbol.for('narad.kafkajs.requestQueueFix');
type Queue = RequestQueue & {
  [patched]?: true;
  inflight: Map<unknown, unknown>;
  requestTimeoutIntervalId?: ReturnType<typeof setInterval> | null;
};
const prototype = RequestQueue.prototype as Queue & Record<string, unknown>;

/** Holds the process through the timeout interval while this queue has work, not longer. */
const holdWhileBusy = (queue: Queue) => {
  const interval = queue.requestTimeoutIntervalId;
  if (!interval) return;
  if (queue.inflight.size > 0 || queue.pending.length > 0) interval.ref();
  else interval.unref();
};

/** Wraps a method so the hold is re-evaluated after every change of the queue. */
const reevaluateAfter = (name: string) => {
  const original = prototype[name] as (this: Queue, ...args: unknown[]) => unknown;
  prototype[name] = function (this: Queue, ...args: unknown[]) {
    const result = original.apply(this, args);
    holdWhileBusy(this);
    return result;
  };
};

if (!prototype[patched]) {
  prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(
    this: RequestQueue,
  ) {
    if (this.throttleCheckTimeoutId) return;
    let scheduleAt = this.throttledUntil - Date.now();
    if (this.pending.length > 0) {
      scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL_MS;
    } else if (scheduleAt <= 0) {
      return; // nothing waiting and no throttle: a response or a new request triggers the next check
    }
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, scheduleAt);
  };
  for (const name of [
    'scheduleRequestTimeoutCheck',
    'push',
    'fulfillRequest',
    'rejectAll',
    'checkPendingRequests',
  ]) {
    reevaluateAfter(name);
  }
  prototype[patched] = true;
}

export { RequestQueue };
