/** The command endpoints whose requests are counted. */
export const COUNTED_PATHS = ['/', '/pipeline', '/multi-exec'] as const;
export type CountedPath = (typeof COUNTED_PATHS)[number];

/** Counters read by tests and benchmarks in other processes through `GET /__narad/stats`. */
export interface GatewayStats {
  requests: { total: number } & Record<CountedPath, number>;
  /** Redis commands sent to Redis (a pipeline of N counts N; MULTI/EXEC around a transaction do not count). */
  commands: number;
}

export interface StatsCounter {
  countRequest(path: CountedPath): void;
  countCommands(count: number): void;
  /** Returns a copy, so callers can keep it while counting goes on. */
  snapshot(): GatewayStats;
  reset(): void;
}

const zeroStats = (): GatewayStats => ({
  requests: { total: 0, '/': 0, '/pipeline': 0, '/multi-exec': 0 },
  commands: 0,
});

/** Returns in-memory counters; counting is two integer increments per request, cheap on the hot path. */
export const createStatsCounter = (): StatsCounter => {
  let stats = zeroStats();
  return {
    countRequest: (path) => {
      stats.requests.total += 1;
      stats.requests[path] += 1;
    },
    countCommands: (count) => {
      stats.commands += count;
    },
    snapshot: () => ({ requests: { ...stats.requests }, commands: stats.commands }),
    reset: () => {
      stats = zeroStats();
    },
  };
};
