/**
 * A work queue keyed by channel: events for one key coalesce into one pending run, a
 * key is never processed twice at once, failed keys back off exponentially (per key),
 * and at most `concurrency` keys run together.
 */
export type Handler = (key: string) => Promise<{ requeueAfterMs?: number } | void>;

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly order: string[] = [];
  private readonly handler: Handler;
  private readonly concurrency: number;
  private stopped = false;
  onError: (key: string, err: unknown) => void = () => {};

  constructor(handler: Handler, concurrency: number) {
    this.handler = handler;
    this.concurrency = concurrency;
  }

  get depth(): number {
    return this.pending.size;
  }

  add(key: string, delayMs = 0): void {
    if (this.stopped) return;
    if (delayMs > 0) {
      if (this.timers.has(key)) return;
      const t = setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, delayMs);
      t.unref();
      this.timers.set(key, t);
      return;
    }
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.pending.has(key)) return;
    this.pending.add(key);
    this.order.push(key);
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.order.length > 0) {
      const key = this.order.shift()!;
      this.pending.delete(key);
      this.running.add(key);
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    try {
      const result = await this.handler(key);
      this.failures.delete(key);
      if (result && result.requeueAfterMs !== undefined) this.add(key, result.requeueAfterMs);
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      this.onError(key, err);
      this.add(key, Math.min(1_000 * 2 ** (n - 1), 300_000));
    } finally {
      this.running.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
