/**
 * The bounded buffer between the WhatsApp session and JetStream.
 *
 * Every inbound event (message, message update, status) is enqueued here and published by one
 * pump, in order, retrying with backoff until JetStream acknowledges it (the publish carries a
 * stable Nats-Msg-Id, so a retry after a lost ack is deduplicated by the server).
 *
 * Backpressure: above `highWater` events the outbox reports pressure; the supervisor then stops
 * the session from acknowledging anything more to WhatsApp (inbound messages are held back by
 * the decrypt gate; other events by closing the socket). `capacity - highWater` is the headroom
 * for events already acknowledged by Baileys when the pressure signal fires; if even that runs
 * out, `enqueue` refuses (and the refusal is counted) instead of growing without bound.
 */
import type { MsgHdrs } from 'nats';

/** Which event an outbox entry carries, for metrics and logs (the subject's kind is the contract's EventKind). */
export type OutboxEventKind = 'message' | 'update' | 'status';

export interface OutboxEvent {
  kind: OutboxEventKind;
  subject: string;
  /** JetStream deduplication id (Nats-Msg-Id). */
  msgId: string;
  data: Uint8Array;
  /** NATS headers stored with the event: the W3C trace context of an inbound message (tracing on). */
  headers?: MsgHdrs;
}

export class OutboxFullError extends Error {
  readonly code = 'OutboxFull';
  constructor(capacity: number) {
    super(`outbox full (${capacity} events waiting for NATS)`);
    this.name = 'OutboxFullError';
  }
}

export class OutboxClosedError extends Error {
  readonly code = 'OutboxClosed';
  constructor() {
    super('outbox closed');
    this.name = 'OutboxClosedError';
  }
}

export interface OutboxOptions {
  capacity: number;
  /** Pressure turns on at this many waiting events… */
  highWater: number;
  /** …and off again at this many. */
  lowWater: number;
  publish: (event: OutboxEvent) => Promise<void>;
  /**
   * How many events may be in flight to JetStream at once (default 1). They are published in
   * order on one connection, so JetStream stores them in order; each resolves in order. After a
   * failure the pump publishes again from the first event that failed (later ones that were
   * stored meanwhile are deduplicated by their Nats-Msg-Id), so only then can the stream's
   * order differ from the outbox's.
   */
  window?: number;
  /** Delay before retry number `attempt` (1-based) of a failed publish. */
  retryDelayMs: (attempt: number) => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  onPressure?: (high: boolean) => void;
  onPublishError?: (err: unknown, event: OutboxEvent, attempt: number) => void;
  onPublished?: (event: OutboxEvent) => void;
  /**
   * Nothing is published before this settles (events queue meanwhile). The worker passes its
   * clinic stream check: a publish before the stream exists fails, and its retries (with backoff,
   * through the circuit breaker) would hold every later event back for seconds.
   */
  startAfter?: Promise<unknown>;
}

interface Pending {
  event: OutboxEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Outbox {
  private readonly opts: OutboxOptions;
  private readonly queue: Pending[] = [];
  private readonly roomWaiters = new Set<() => void>();
  private readonly abort = new AbortController();
  private pumping = false;
  /** Whether `startAfter` has settled (publishing may begin). */
  private started = false;
  private pressure = false;
  private closed = false;
  private failureStart: number | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: OutboxOptions) {
    if (!(opts.lowWater <= opts.highWater && opts.highWater <= opts.capacity && opts.lowWater >= 0)) {
      throw new Error('outbox needs 0 <= lowWater <= highWater <= capacity');
    }
    this.opts = opts;
  }

  get size(): number {
    return this.queue.length;
  }

  /** True while above the high-water mark (until back below the low-water mark). */
  get underPressure(): boolean {
    return this.pressure;
  }

  /** When publishing has been failing continuously since (epoch ms), or undefined. */
  get failingSince(): number | undefined {
    return this.failureStart;
  }

  /** Resolves once the event is durably stored by JetStream. */
  enqueue(event: OutboxEvent): Promise<void> {
    if (this.closed) return Promise.reject(new OutboxClosedError());
    if (this.queue.length >= this.opts.capacity)
      return Promise.reject(new OutboxFullError(this.opts.capacity));
    const done = new Promise<void>((resolve, reject) => this.queue.push({ event, resolve, reject }));
    this.updatePressure();
    void this.pump();
    return done;
  }

  /** Resolves when there is room below the high-water mark (or rejects when `signal` aborts). */
  waitForRoom(signal?: AbortSignal): Promise<void> {
    if (!this.pressure) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.roomWaiters.delete(wake);
        reject(signal?.reason ?? new Error('aborted'));
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.roomWaiters.add(wake);
    });
  }

  /** Resolves when every enqueued event is published, or after `timeoutMs` (returns false). */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.queue.length === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    try {
      return await Promise.race([idle, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the pump; events still waiting are rejected (they were never acknowledged as stored). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort(new OutboxClosedError());
    for (const p of this.queue.splice(0)) p.reject(new OutboxClosedError());
    for (const wake of this.roomWaiters) wake();
    this.roomWaiters.clear();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const window = Math.max(1, this.opts.window ?? 1);
    try {
      if (this.opts.startAfter && !this.started) {
        await this.opts.startAfter.catch(() => undefined);
        this.started = true;
      }
      let attempt = 0;
      while (!this.closed && this.queue.length > 0) {
        const batch = this.queue.slice(0, window);
        const results = await Promise.allSettled(batch.map((p) => this.opts.publish(p.event)));
        if (this.closed) return; // close() already rejected everything that waited
        let stored = 0;
        while (stored < results.length && results[stored]!.status === 'fulfilled') stored++;
        for (let i = 0; i < stored; i++) {
          const head = this.queue.shift()!;
          head.resolve();
          this.opts.onPublished?.(head.event);
        }
        if (stored > 0) {
          this.failureStart = undefined;
          attempt = 0;
          this.updatePressure();
        }
        if (stored < results.length) {
          attempt += 1;
          this.failureStart ??= Date.now();
          const failed = results[stored] as PromiseRejectedResult;
          this.opts.onPublishError?.(failed.reason, batch[stored]!.event, attempt);
          try {
            await this.opts.sleep(this.opts.retryDelayMs(attempt), this.abort.signal);
          } catch {
            return; // closed while waiting
          }
        }
      }
    } finally {
      this.pumping = false;
      if (this.queue.length === 0) {
        for (const wake of this.idleWaiters.splice(0)) wake();
      }
    }
  }

  private updatePressure(): void {
    const size = this.queue.length;
    if (!this.pressure && size >= this.opts.highWater) {
      this.pressure = true;
      this.opts.onPressure?.(true);
    } else if (this.pressure && size <= this.opts.lowWater) {
      this.pressure = false;
      this.opts.onPressure?.(false);
      for (const wake of this.roomWaiters) wake();
      this.roomWaiters.clear();
    }
  }
}
