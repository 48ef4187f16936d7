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

export interface LeaseRecord {
  v: 1;
  holder: string;
  /** Increases by one on every change of holder; journal records carry it. */
  epoch: number;
  /** ms since the epoch. */
  expiresAt: number;
  renewedAt: number;
}

export interface LeaseOptions {
  holder: string;
  ttlMs: number;
  /** Renew this often (default ttl/3). */
  renewEveryMs?: number;
  /** Give up (and call onLost) when a renewal has not succeeded by expiry minus this. */
  safetyMarginMs?: number;
  now?: () => number;
}

export class LeaseHeldError extends Error {
  readonly holder: string;
  readonly expiresAt: number;
  constructor(record: LeaseRecord) {
    super(`the channel is held by ${record.holder} until ${new Date(record.expiresAt).toISOString()}`);
    this.name = 'LeaseHeldError';
    this.holder = record.holder;
    this.expiresAt = record.expiresAt;
  }
}

export class LeaseLostError extends Error {
  constructor(why: string) {
    super(`the channel lease was lost: ${why}`);
    this.name = 'LeaseLostError';
  }
}

const encode = (r: LeaseRecord) => Buffer.from(JSON.stringify(r));

export class ChannelLease {
  readonly key: string;
  private readonly store: ObjectStore;
  private readonly options: Required<LeaseOptions>;
  private etag = '';
  private record: LeaseRecord | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lost = false;
  private lastRenewOk = 0;
  private readonly lostListeners: Array<() => void> = [];

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
    return (
      !this.lost &&
      this.record !== undefined &&
      this.options.now() < this.record.expiresAt - this.options.safetyMarginMs
    );
  }

  assertValid(): void {
    if (!this.valid()) throw new LeaseLostError(this.lost ? 'renewal failed' : 'expired by the local clock');
  }

  /** One attempt: take the lease if it is free, expired, or already ours. Throws LeaseHeldError otherwise. */
  async tryAcquire(): Promise<void> {
    const now = this.options.now();
    const current = await this.store.get(this.key);
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
      const record = JSON.parse(Buffer.from(current.body).toString('utf8')) as LeaseRecord;
      if (record.holder !== this.options.holder && record.expiresAt > now) throw new LeaseHeldError(record);
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
    this.lastRenewOk = now;
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

  onLost(listener: () => void): void {
    this.lostListeners.push(listener);
  }

  renewing(): boolean {
    return !this.lost && this.options.now() - this.lastRenewOk < this.options.ttlMs;
  }

  private startRenewing(): void {
    this.stopRenewing();
    this.timer = setInterval(() => void this.renew(), this.options.renewEveryMs);
    this.timer.unref();
  }

  private stopRenewing(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Extends the lease; on refusal, or when renewals fail until the safety margin, the lease is lost. */
  async renew(): Promise<void> {
    if (this.lost || !this.record) return;
    const now = this.options.now();
    const next = { ...this.record, expiresAt: now + this.options.ttlMs, renewedAt: now };
    try {
      try {
        this.etag = await this.store.put(this.key, encode(next), { ifMatch: this.etag });
      } catch (err) {
        if (!(err instanceof PreconditionFailedError) || !(await this.adoptOwnLandedRenewal())) throw err;
        this.etag = await this.store.put(this.key, encode(next), { ifMatch: this.etag });
      }
      this.record = next;
      this.lastRenewOk = now;
    } catch (err) {
      if (err instanceof PreconditionFailedError) return this.markLost();
      // Transient failure: keep trying until we are inside the safety margin, then give up before expiry.
      if (this.options.now() >= this.record.expiresAt - this.options.safetyMarginMs) this.markLost();
    }
  }

  /**
   * The stored lease changed since our last known version. If it still names this holder and
   * epoch, the change was our own earlier renewal whose answer was lost (it landed, the reply
   * did not): take its version and go on. Anyone else's write takes a new epoch.
   */
  private async adoptOwnLandedRenewal(): Promise<boolean> {
    const current = await this.store.get(this.key);
    if (!current || !this.record) return false;
    const record = JSON.parse(Buffer.from(current.body).toString('utf8')) as LeaseRecord;
    if (record.holder !== this.options.holder || record.epoch !== this.record.epoch) return false;
    this.etag = current.etag;
    return true;
  }

  /** Checks the stored lease (not the local view): used before reconnecting after a 440. */
  async stillHeld(): Promise<boolean> {
    const current = await this.store.get(this.key);
    if (!current || !this.record) return false;
    const record = JSON.parse(Buffer.from(current.body).toString('utf8')) as LeaseRecord;
    return record.holder === this.options.holder && record.epoch === this.record.epoch && this.valid();
  }

  private markLost(): void {
    if (this.lost) return;
    this.lost = true;
    this.stopRenewing();
    for (const l of this.lostListeners) l();
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
