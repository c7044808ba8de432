/**
 * Drops the expired entries among the first `budget` of `entries` (insertion order), so a
 * write that sweeps a few stays O(1). Shared by the stores that expire keys in memory.
 */
export const sweepExpired = (
  entries: Map<string, { expiresAt: number }>,
  now: number,
  budget: number,
): void => {
  let looked = 0;
  for (const [key, entry] of entries) {
    if (looked++ >= budget) break;
    if (entry.expiresAt <= now) entries.delete(key);
  }
};

/**
 * The in-memory TTL store the cache falls back to while Redis is unreachable. It lives as long
 * as the Lambda container, holds at most `maxEntries` (the oldest written goes first), and an
 * expired entry is never returned: reads drop it, and writes sweep a few expired entries.
 */
export class MemoryStore {
  readonly #entries = new Map<string, { value: unknown; expiresAt: number }>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get<T = unknown>(key: string): T | null {
    const entry = this.#entries.get(key);
    if (entry === undefined) return null;
    if (entry.expiresAt <= this.now()) {
      this.#entries.delete(key);
      return null;
    }
    return entry.value as T;
  }

  /** Stores `value` for `ttlSeconds` (forever when omitted). */
  set(key: string, value: unknown, ttlSeconds?: number): void {
    this.#sweep(8);
    this.#entries.delete(key); // re-insert so the Map's order stays the write order
    this.#entries.set(key, {
      value,
      expiresAt:
        ttlSeconds === undefined ? Number.POSITIVE_INFINITY : this.now() + ttlSeconds * 1000,
    });
    if (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  del(key: string): boolean {
    return this.#entries.delete(key);
  }

  /** Live entries; expired ones still held are dropped first. */
  get size(): number {
    this.#sweep(Number.POSITIVE_INFINITY);
    return this.#entries.size;
  }

  #sweep(budget: number): void {
    sweepExpired(this.#entries, this.now(), budget);
  }
}
