import type { BatchPart } from './partition-queue.ts';

/** An offset to commit: the next one to read in `partition`. */
export interface PartitionOffset {
  partition: number;
  offset: number;
}

/**
 * The commits of one mapping: one request at a time, each carrying the highest offset queued
 * per partition meanwhile, so a partition's committed offset only moves forward and a slow
 * commit never holds up the next invocation. Work of an older assignment is not committed
 * (its records are delivered again: never lost).
 */
export class CommitQueue {
  readonly #pending = new Map<number, { part: BatchPart; offset: number }>();
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (offsets: PartitionOffset[]) => Promise<void>,
    private readonly onCommitted: (committed: PartitionOffset) => void,
    private readonly onError: (offsets: PartitionOffset[], error: unknown) => void,
  ) {}

  /** Commits `offset` (the next to read) for the part's partition, unless the group moved on. */
  add(part: BatchPart, offset: number): void {
    if (!part.queue.owns(part)) return;
    const { partition } = part.queue;
    const known = this.#pending.get(partition);
    if (!known || known.offset < offset) this.#pending.set(partition, { part, offset });
    this.#flushing = this.#flushing.then(() => this.#flush());
  }

  /** Resolves once every commit queued so far has been written (or has failed). */
  settled(): Promise<void> {
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    while (this.#pending.size > 0) {
      const due = [...this.#pending.values()]
        .filter(({ part }) => part.queue.owns(part))
        .map(({ part, offset }) => ({ partition: part.queue.partition, offset }));
      this.#pending.clear();
      if (due.length === 0) continue;
      try {
        await this.write(due);
        for (const committed of due) this.onCommitted(committed);
      } catch (error) {
        this.onError(due, error);
      }
    }
  }
}
