/**
 * Remembers, per idempotency key, the outcome of a command so that a retried command (same key)
 * gets the first outcome instead of running again. A retry that arrives while the first run is
 * still in flight waits for it. Bounded: the oldest finished entries are forgotten first;
 * entries still in flight are never evicted (there are at most as many as concurrent commands).
 *
 * A key reused with a different command body is a client bug: it is refused rather than
 * silently answered with the other command's result.
 */

export type IdempotentOutcome<R> =
  { kind: 'fresh'; result: R } | { kind: 'replayed'; result: R } | { kind: 'conflict'; fingerprint: string };

interface Entry<R> {
  fingerprint: string;
  settled: boolean;
  promise: Promise<R>;
}

export class IdempotencyCache<R> {
  readonly #capacity: number;
  readonly #entries = new Map<string, Entry<R>>();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error('capacity must be a positive integer');
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Runs `work` once per key. Results (including error results that `work` returns as values)
   * are remembered; a thrown exception is not remembered, so a retry runs the work again —
   * use it only for failures that certainly changed nothing.
   */
  async run(key: string, fingerprint: string, work: () => Promise<R>): Promise<IdempotentOutcome<R>> {
    const existing = this.#entries.get(key);
    if (existing) {
      if (existing.fingerprint !== fingerprint)
        return { kind: 'conflict', fingerprint: existing.fingerprint };
      // Refresh recency: a key that keeps being retried stays remembered.
      this.#entries.delete(key);
      this.#entries.set(key, existing);
      return { kind: 'replayed', result: await existing.promise };
    }
    const entry: Entry<R> = { fingerprint, settled: false, promise: work() };
    this.#entries.set(key, entry);
    try {
      const result = await entry.promise;
      entry.settled = true;
      this.#evict();
      return { kind: 'fresh', result };
    } catch (err) {
      this.#entries.delete(key);
      throw err;
    }
  }

  #evict(): void {
    if (this.#entries.size <= this.#capacity) return;
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= this.#capacity) break;
      if (entry.settled) this.#entries.delete(key);
    }
  }
}
