/**
 * Remembers, per idempotency key, the outcome of a command so that a retried command (same key)
 * gets the first outcome instead of running again. A retry that arrives while the first run is
 * still in flight waits for it. Bounded: the oldest finished entries are forgotten first;
 * entries still in flight are never evicted (there are at most as many as concurrent commands).
 *
 * A key reused with a different command body is a client bug: it is refused rather than
 * silently answered with the other command's result.
 */

import { LRUCache } from 'lru-cache';

export type IdempotentOutcome<R> =
  { kind: 'fresh'; result: R } | { kind: 'replayed'; result: R } | { kind: 'conflict'; fingerprint: string };

interface Entry<R> {
  fingerprint: string;
  promise: Promise<R>;
}

export class IdempotencyCache<R> {
  /** Runs not finished yet: never evicted (there are at most as many as concurrent commands). */
  private readonly inFlight = new Map<string, Entry<R>>();
  /** Finished runs, the least recently used forgotten first. */
  private readonly settled: LRUCache<string, Entry<R>>;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error('capacity must be a positive integer');
    this.settled = new LRUCache({ max: capacity });
  }

  get size(): number {
    return this.inFlight.size + this.settled.size;
  }

  /**
   * Runs `work` once per key. Results (including error results that `work` returns as values)
   * are remembered; a thrown exception is not remembered, so a retry runs the work again —
   * use it only for failures that certainly changed nothing.
   */
  async run(key: string, fingerprint: string, work: () => Promise<R>): Promise<IdempotentOutcome<R>> {
    // A finished key is refreshed by the lookup: a key that keeps being retried stays remembered.
    const existing = this.inFlight.get(key) ?? this.settled.get(key);
    if (existing) {
      if (existing.fingerprint !== fingerprint)
        return { kind: 'conflict', fingerprint: existing.fingerprint };
      return { kind: 'replayed', result: await existing.promise };
    }
    const entry: Entry<R> = { fingerprint, promise: work() };
    this.inFlight.set(key, entry);
    try {
      const result = await entry.promise;
      this.settled.set(key, entry);
      return { kind: 'fresh', result };
    } finally {
      this.inFlight.delete(key);
    }
  }
}
