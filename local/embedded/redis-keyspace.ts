import { sweepExpired } from '../../lib/redis/memory-store.ts';

/**
 * The keyspace of the embedded Redis: typed values with an optional expiry, the way Redis
 * keeps them. Expired keys are never seen: reads drop them, writes sweep a few.
 */

export type RedisValue =
  | { type: 'string'; value: string }
  | { type: 'list'; value: string[] }
  | { type: 'set'; value: Set<string> }
  | { type: 'hash'; value: Map<string, string> };

type Entry = RedisValue & { expiresAt: number };

/** What each type holds. */
interface Holds {
  string: string;
  list: string[];
  set: Set<string>;
  hash: Map<string, string>;
}

/** A Redis error reply (`ERR ...`, `WRONGTYPE ...`): the message is what Redis would say. */
export class ReplyError extends Error {
  override name = 'ReplyError';
}

const wrongType = () =>
  new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');

export class Keyspace {
  readonly #entries = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The live entry at `key`, or undefined; an expired one is dropped on the way. */
  lookup(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** The value at `key` when it has `type`, undefined when absent; WRONGTYPE otherwise. */
  read<T extends keyof Holds>(key: string, type: T): Holds[T] | undefined {
    const entry = this.lookup(key);
    if (entry === undefined) return undefined;
    if (entry.type !== type) throw wrongType();
    return entry.value as Holds[T];
  }

  /**
   * The value at `key` to change in place, created empty when absent. The expiry survives, as
   * in Redis, where LPUSH or SADD on an existing key keeps its TTL.
   */
  upsert<T extends 'list' | 'set' | 'hash'>(key: string, type: T): Holds[T] {
    const existing = this.read(key, type);
    if (existing !== undefined) return existing;
    const empty = type === 'list' ? [] : type === 'set' ? new Set<string>() : new Map();
    this.#sweep(8);
    this.#entries.set(key, {
      type,
      value: empty,
      expiresAt: Number.POSITIVE_INFINITY,
    } as Entry);
    return empty as Holds[T];
  }

  /** Replaces the value at `key`; `expiresAt` undefined clears any expiry (SET without KEEPTTL). */
  write(key: string, value: RedisValue, expiresAt = Number.POSITIVE_INFINITY): void {
    this.#sweep(8);
    this.#entries.set(key, { ...value, expiresAt });
  }

  delete(key: string): boolean {
    return this.lookup(key) !== undefined && this.#entries.delete(key);
  }

  /** Drops the key when its collection became empty: Redis never keeps an empty list or set. */
  dropIfEmpty(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.type === 'string') return;
    const size = entry.type === 'list' ? entry.value.length : entry.value.size;
    if (size === 0) this.#entries.delete(key);
  }

  /** Epoch ms at which `key` expires: Infinity when it does not, undefined when it is absent. */
  expiryOf(key: string): number | undefined {
    return this.lookup(key)?.expiresAt;
  }

  setExpiry(key: string, expiresAt: number): boolean {
    const entry = this.lookup(key);
    if (entry === undefined) return false;
    if (expiresAt <= this.now()) this.#entries.delete(key);
    else entry.expiresAt = expiresAt;
    return true;
  }

  /** Live keys, in insertion order. */
  keys(): string[] {
    this.#sweep(Number.POSITIVE_INFINITY);
    return [...this.#entries.keys()];
  }

  clear(): void {
    this.#entries.clear();
  }

  get clock(): number {
    return this.now();
  }

  #sweep(budget: number): void {
    sweepExpired(this.#entries, this.now(), budget);
  }
}
