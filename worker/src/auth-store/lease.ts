/**
 * The channel lease: one object `<base>lease` holding {holder, epoch, expiresAt},
 * changed only by compare-and-set (S3 If-Match / If-None-Match). It says which worker
 * may run the channel; the journal's fence record (journal.ts) is what makes the
 * store itself refuse a stale holder's writes.
 *
 * Why S3 and not NATS KV or a Kubernetes Lease: the thing being protected is the state
 * in S3, so the lease lives beside it and shares its failure domain. A worker that
 * cannot reach S3 can neither renew nor write, so the two can never disagree; and the
 * worker needs no Kubernetes API access at all (it has none, see docs/security.md).
 */
import { LEASE_OBJECT } from '../../../contract/state-layout.ts';
import type { ObjectStore } from './object-store.ts';
import { PreconditionFailedError } from './object-store.ts';
import {
  LeaseHeldError,
  LeaseLostError,
  LeaseTakenError,
  RenewalTimeoutError,
  WorkerStalledError,
  type LeaseLoss,
  type LeaseRecord,
} from './lease-record.ts';

export interface LeaseOptions {
  holder: string;
  ttlMs: number;
  /** Renew this often (default ttl/3). An attempt still unanswered when the next is due is abandoned. */
  renewEveryMs?: number;
  /** Give up (and call onLost) when a renewal has not succeeded by expiry minus this. */
  safetyMarginMs?: number;
  now?: () => number;
}

const encode = (r: LeaseRecord) => Buffer.from(JSON.stringify(r));
const decode = (body: Uint8Array) => JSON.parse(Buffer.from(body).toString('utf8')) as LeaseRecord;

export class ChannelLease {
  readonly key: string;
  private readonly store: ObjectStore;
  private readonly options: Required<LeaseOptions>;
  private etag = '';
  private record: LeaseRecord | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Fires when the lease can no longer be proven held (expiry minus the margin, by the local clock). */
  private deadline: NodeJS.Timeout | undefined;
  /** When the deadline above is due (ms, local clock): how late it ran tells a stalled process. */
  private deadlineDueAt = Infinity;
  private lost = false;
  private loss: LeaseLoss | undefined;
  private renewal: Promise<void> | undefined;
  private lastRenewError: unknown;
  private lastTick = 0;
  private readonly lostListeners: Array<(loss: LeaseLoss) => void> = [];

  constructor(store: ObjectStore, basePrefix: string, options: LeaseOptions) {
    this.store = store;
    this.key = `${basePrefix}${LEASE_OBJECT}`;
    this.options = {
      renewEveryMs: Math.floor(options.ttlMs / 3),
      safetyMarginMs: Math.floor(options.ttlMs / 5),
      now: Date.now,
      ...options,
    };
  }

  get epoch(): number {
    if (!this.record) throw new LeaseLostError('not acquired');
    return this.record.epoch;
  }

  /** Whether this worker may still write: held, not lost, and not near expiry by its own clock. */
  valid(): boolean {
    if (this.lost || this.record === undefined) return false;
    if (this.options.now() < this.record.expiresAt - this.options.safetyMarginMs) return true;
    // Whoever notices first reports the loss, so its cause is known before anyone acts on it.
    if (this.timer) this.giveUpIfExpiring();
    return false;
  }

  assertValid(): void {
    if (!this.valid()) throw new LeaseLostError(this.lost ? 'renewal failed' : 'expired by the local clock');
  }

  /** One attempt: take the lease if it is free, expired, or already ours. Throws LeaseHeldError otherwise. */
  async tryAcquire(): Promise<void> {
    const now = this.options.now();
    const current = await this.store.get(this.key);
    await this.take(current, now, (record) => {
      if (record.holder !== this.options.holder && record.expiresAt > now) throw new LeaseHeldError(record);
    });
  }

  /**
   * After an `unrenewable` loss: takes the lease again, with a new epoch, only if the stored
   * lease is still the one this worker last held. Anyone else's write in between means the
   * channel was handed over: LeaseTakenError, and this worker must stop.
   */
  async reacquire(): Promise<void> {
    const held = this.record;
    if (!held || this.loss?.kind !== 'unrenewable') throw new LeaseLostError('nothing to take back');
    const now = this.options.now();
    const current = await this.store.get(this.key);
    await this.take(current, now, (record) => {
      if (record.holder === this.options.holder && record.epoch === held.epoch) return;
      this.loss = { kind: 'taken', detail: `taken over by ${record.holder}` };
      throw new LeaseTakenError(record);
    });
    this.loss = undefined;
    this.startRenewing();
  }

  private async take(
    current: { body: Uint8Array; etag: string } | null,
    now: number,
    check: (record: LeaseRecord) => void,
  ): Promise<void> {
    let next: LeaseRecord;
    if (current === null) {
      next = {
        v: 1,
        holder: this.options.holder,
        epoch: 1,
        expiresAt: now + this.options.ttlMs,
        renewedAt: now,
      };
      this.etag = await this.store.put(this.key, encode(next), { ifAbsent: true });
    } else {
      const record = decode(current.body);
      check(record);
      // A new holder (or ourselves after a restart) always takes a new epoch: the old process may still live.
      next = {
        v: 1,
        holder: this.options.holder,
        epoch: record.epoch + 1,
        expiresAt: now + this.options.ttlMs,
        renewedAt: now,
      };
      this.etag = await this.store.put(this.key, encode(next), { ifMatch: current.etag });
    }
    this.record = next;
    this.lost = false;
    this.lastRenewError = undefined;
  }

  /** Waits until the lease can be taken (another holder's lease expires or is released). */
  async acquire(signal?: AbortSignal, onWait?: (held: LeaseHeldError) => void): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      try {
        await this.tryAcquire();
        this.startRenewing();
        return;
      } catch (err) {
        if (!(err instanceof LeaseHeldError) && !(err instanceof PreconditionFailedError)) throw err;
        if (err instanceof LeaseHeldError) onWait?.(err);
        const wait =
          err instanceof LeaseHeldError
            ? Math.max(200, Math.min(err.expiresAt - this.options.now() + 50, 5_000))
            : 200;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /**
   * Called once per loss, with its cause; a lease taken back by reacquire() may be lost again.
   * Returns a function that removes the listener (a worker torn down after a loss).
   */
  onLost(listener: (loss: LeaseLoss) => void): () => void {
    this.lostListeners.push(listener);
    return () => {
      const at = this.lostListeners.indexOf(listener);
      if (at >= 0) this.lostListeners.splice(at, 1);
    };
  }

  /** Why the lease was last lost (undefined while held). */
  get lossCause(): LeaseLoss | undefined {
    return this.loss;
  }

  /**
   * Whether the renewal loop is alive (for liveness). A store that does not answer is not a
   * wedged worker: restarting would not bring S3 back, so a loop that keeps trying counts.
   */
  renewing(): boolean {
    return this.lost || this.options.now() - this.lastTick < this.options.ttlMs;
  }

  private startRenewing(): void {
    this.stopRenewing();
    this.lastTick = this.options.now();
    this.timer = setInterval(() => {
      this.lastTick = this.options.now();
      void this.renew();
    }, this.options.renewEveryMs);
    this.timer.unref();
    this.armDeadline();
  }

  private stopRenewing(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    this.timer = undefined;
    this.deadline = undefined;
  }

  /**
   * Gives the lease up when it can no longer be proven held, whether or not a renewal is still
   * waiting for an answer: a store that hangs must cost the session no later than one that refuses.
   */
  private armDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    if (!this.record) return;
    this.deadlineDueAt = this.record.expiresAt - this.options.safetyMarginMs;
    const due = this.deadlineDueAt - this.options.now();
    this.deadline = setTimeout(() => this.giveUpIfExpiring(), Math.max(0, due));
    this.deadline.unref();
  }

  private giveUpIfExpiring(): void {
    if (this.lost || !this.record) return;
    const now = this.options.now();
    if (now < this.record.expiresAt - this.options.safetyMarginMs) return this.armDeadline();
    this.markLost({ kind: 'unrenewable', ...this.unrenewableCause(now) });
  }

  /**
   * Why no renewal was confirmed. When the give-up ran a renewal period or more after it was due,
   * this process did not run meanwhile (nothing of it ran, renewals included): that is said first,
   * with the store's own error if the last renewal failed too. Otherwise the store's error, or
   * that it did not answer in time.
   */
  private unrenewableCause(now: number): { detail: string; error: unknown } {
    const storeError = this.lastRenewError instanceof RenewalTimeoutError ? undefined : this.lastRenewError;
    const lateMs = now - this.deadlineDueAt;
    const error =
      lateMs >= this.options.renewEveryMs
        ? new WorkerStalledError(this.key, this.options.renewEveryMs, Math.round(lateMs), storeError)
        : (this.lastRenewError ?? new RenewalTimeoutError(this.key, this.options.renewEveryMs));
    return { detail: (error as Error).message ?? String(error), error };
  }

  /**
   * Extends the lease; on refusal, or when renewals fail until the safety margin, the lease is
   * lost. One attempt at a time: an attempt unanswered after a renewal period is abandoned (its
   * late landing is recognised by the next one, adoptOwnLandedRenewal()).
   */
  async renew(): Promise<void> {
    if (this.lost || !this.record) return;
    if (this.renewal) return this.renewal;
    this.renewal = this.renewOnce().finally(() => (this.renewal = undefined));
    return this.renewal;
  }

  private async renewOnce(): Promise<void> {
    const record = this.record!;
    const now = this.options.now();
    const next = { ...record, expiresAt: now + this.options.ttlMs, renewedAt: now };
    try {
      await this.withinRenewPeriod(async (abandoned) => {
        let etag: string;
        try {
          etag = await this.store.put(this.key, encode(next), { ifMatch: this.etag });
        } catch (err) {
          if (
            abandoned() ||
            !(err instanceof PreconditionFailedError) ||
            !(await this.adoptOwnLandedRenewal())
          )
            throw err;
          etag = await this.store.put(this.key, encode(next), { ifMatch: this.etag });
        }
        // An abandoned attempt that lands late leaves the etag alone: the next attempt finds it.
        if (!abandoned()) this.etag = etag;
      });
      if (this.lost) return; // confirmed too late: the loss was already reported
      this.record = next;
      this.lastRenewError = undefined;
      this.armDeadline();
    } catch (err) {
      if (err instanceof PreconditionFailedError)
        return this.markLost({ kind: 'taken', detail: 'another holder wrote the lease' });
      // Transient failure: keep trying until we are inside the safety margin, then give up before expiry.
      this.lastRenewError = err;
      this.giveUpIfExpiring();
    }
  }

  private withinRenewPeriod(call: (abandoned: () => boolean) => Promise<void>): Promise<void> {
    const ms = this.options.renewEveryMs;
    let timer: NodeJS.Timeout | undefined;
    let abandoned = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abandoned = true;
        reject(new RenewalTimeoutError(this.key, ms));
      }, ms);
    });
    return Promise.race([call(() => abandoned), timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * The stored lease changed since our last known version. If it still names this holder and
   * epoch, the change was our own earlier renewal whose answer was lost (it landed, the reply
   * did not): take its version and go on. Anyone else's write takes a new epoch.
   */
  private async adoptOwnLandedRenewal(): Promise<boolean> {
    const current = await this.store.get(this.key);
    if (!current || !this.record) return false;
    const record = decode(current.body);
    if (record.holder !== this.options.holder || record.epoch !== this.record.epoch) return false;
    this.etag = current.etag;
    return true;
  }

  /** Checks the stored lease (not the local view): used before reconnecting after a 440. */
  async stillHeld(): Promise<boolean> {
    const current = await this.store.get(this.key);
    if (!current || !this.record) return false;
    const record = decode(current.body);
    return record.holder === this.options.holder && record.epoch === this.record.epoch && this.valid();
  }

  private markLost(loss: LeaseLoss): void {
    if (this.lost) return;
    this.lost = true;
    this.loss = loss;
    this.stopRenewing();
    for (const l of [...this.lostListeners]) l(loss);
  }

  /** Gives the lease up at once (graceful shutdown), so the next worker need not wait for expiry. */
  async release(): Promise<void> {
    this.stopRenewing();
    if (!this.record || this.lost) return;
    const released = encode({ ...this.record, expiresAt: 0 });
    this.lost = true;
    try {
      await this.store.put(this.key, released, { ifMatch: this.etag });
    } catch (err) {
      // Our last renewal may have landed unseen: release that version. Otherwise it just expires.
      if (err instanceof PreconditionFailedError && (await this.adoptOwnLandedRenewal().catch(() => false)))
        await this.store.put(this.key, released, { ifMatch: this.etag }).catch(() => undefined);
    }
  }
}
