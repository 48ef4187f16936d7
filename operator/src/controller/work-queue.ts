/**
 * A work queue keyed by channel, like client-go's rate-limited queue:
 * - events for one key coalesce into one pending run; a key is never processed twice at
 *   once (an event during its run marks it dirty, and it runs once more afterwards);
 * - a failed key backs off exponentially (1 s doubling to 5 min, per key), unless the
 *   error asks for a shorter wait (RetryLater); a success resets its backoff;
 * - at most `concurrency` keys run together, in arrival order, except that keys added with
 *   `addFirst` run before every key added with `add` (the controller puts channels that wait
 *   for their worker there: a pod to create goes before the status writes of channels that
 *   have theirs, docs/operator.md "Measured").
 */
export type Handler = (key: string) => Promise<{ requeueAfterMs?: number } | void>;

/** Thrown by a handler that failed but knows when trying again makes sense. */
export class RetryLater extends Error {
  readonly code = 'RetryLater';
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.name = 'RetryLater';
    this.retryAfterMs = retryAfterMs;
  }
}

export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 300_000;
/** Node runs a timer longer than 2^31-1 ms (24.8 days) after 1 ms: longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Which line a queued key waits in: `first` runs before `normal`. */
type Lane = 'first' | 'normal';

export class WorkQueue {
  /** Each waiting key and its lane; the lanes' arrays may hold stale entries, skipped when taken. */
  private readonly queued = new Map<string, Lane>();
  private readonly lanes: Record<Lane, string[]> = { first: [], normal: [] };
  private readonly running = new Set<string>();
  /** Keys added while they ran, and the lane to queue them in afterwards. */
  private readonly dirty = new Map<string, Lane>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; at: number }>();
  private readonly handler: Handler;
  private readonly concurrency: number;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  onError: (key: string, err: unknown, attempt: number) => void = () => {};

  constructor(handler: Handler, concurrency: number) {
    this.handler = handler;
    this.concurrency = concurrency;
  }

  /** Keys waiting to run now (not those waiting for a backoff timer). */
  get depth(): number {
    return this.queued.size;
  }

  get inFlight(): number {
    return this.running.size;
  }

  /** Runs `key` now, or after `delayMs` (an earlier pending timer for the key wins). */
  add(key: string, delayMs = 0): void {
    this.enqueue(key, delayMs, 'normal');
  }

  /**
   * Runs `key` before every key queued with `add` (in arrival order among these); a key already
   * waiting in the normal line moves up. For work that others wait behind, not for retries.
   */
  addFirst(key: string): void {
    this.enqueue(key, 0, 'first');
  }

  private enqueue(key: string, delayMs: number, lane: Lane): void {
    if (this.stopped) return;
    if (delayMs > 0) {
      const at = Date.now() + delayMs;
      const pending = this.timers.get(key);
      if (pending && pending.at <= at) return;
      if (pending) clearTimeout(pending.timer);
      const timer = setTimeout(
        () => {
          this.timers.delete(key);
          this.add(key, Math.max(0, at - Date.now()));
        },
        Math.min(delayMs, MAX_TIMER_MS),
      );
      timer.unref();
      this.timers.set(key, { timer, at });
      return;
    }
    if (this.running.has(key)) {
      if (this.dirty.get(key) !== 'first') this.dirty.set(key, lane);
      return;
    }
    const waiting = this.queued.get(key);
    if (waiting === 'first' || waiting === lane) return;
    this.queued.set(key, lane); // (a move up leaves a stale entry in the normal line: skipped)
    this.lanes[lane].push(key);
    this.pump();
  }

  /** Stops taking work; resolves when the runs in progress have finished (or after `timeoutMs`). */
  async stop(timeoutMs = 0): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queued.clear();
    this.lanes.first.length = 0;
    this.lanes.normal.length = 0;
    if (this.running.size === 0 || timeoutMs <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.concurrency) {
      const key = this.next();
      if (key === undefined) return;
      this.queued.delete(key);
      this.running.add(key);
      void this.run(key);
    }
  }

  /** The next key to run: the first line before the normal one, skipping stale entries. */
  private next(): string | undefined {
    for (const lane of ['first', 'normal'] as const) {
      const line = this.lanes[lane];
      while (line.length > 0) {
        const key = line.shift()!;
        if (this.queued.get(key) === lane) return key;
      }
    }
    return undefined;
  }

  private async run(key: string): Promise<void> {
    try {
      const result = await this.handler(key);
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.add(key, Math.max(1, result.requeueAfterMs));
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.onError(key, err, n);
      const backoff = Math.min(BACKOFF_BASE_MS * 2 ** (n - 1), BACKOFF_MAX_MS);
      this.add(key, err instanceof RetryLater ? Math.max(1, Math.min(backoff, err.retryAfterMs)) : backoff);
    } finally {
      this.running.delete(key);
      const again = this.dirty.get(key);
      if (again) {
        this.dirty.delete(key);
        this.enqueue(key, 0, again);
      }
      this.pump();
      if (this.stopped && this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
