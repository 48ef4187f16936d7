/**
 * "Read your own writes" over watch caches. After the operator writes something, its
 * cache shows the old state until the watch event arrives; deciding from that stale
 * state would repeat the write (a second create, a second status patch). So after each
 * write the reconciler notes what the cache must show before the key is trusted again;
 * until then the key is skipped (the watch event will enqueue it). A note expires after
 * `ttlMs`, so a lost event can delay a channel but never stall it.
 */
export class Freshness<T> {
  private readonly waits = new Map<
    string,
    { satisfied: (current: T | undefined) => boolean; until: number }
  >();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(ttlMs = 30_000, now: () => number = Date.now) {
    this.ttlMs = ttlMs;
    this.now = now;
  }

  /** After a write: the cache is stale for `key` until `satisfied(cached object)` holds. */
  expect(key: string, satisfied: (current: T | undefined) => boolean): void {
    this.waits.set(key, { satisfied, until: this.now() + this.ttlMs });
  }

  /** Milliseconds to wait before trusting the cache for `key` (0: trust it now). */
  staleFor(key: string, current: T | undefined): number {
    const wait = this.waits.get(key);
    if (!wait) return 0;
    const left = wait.until - this.now();
    if (left <= 0 || wait.satisfied(current)) {
      this.waits.delete(key);
      return 0;
    }
    return left;
  }

  forget(key: string): void {
    this.waits.delete(key);
  }

  get size(): number {
    return this.waits.size;
  }
}
