/**
 * What the channel lease (lease.ts) stores and how it reports losing it: the record in the
 * `lease` object, and the typed errors each carrying a `code` that callers switch on.
 */

export interface LeaseRecord {
  v: 1;
  holder: string;
  /** Increases by one on every change of holder; journal records carry it. */
  epoch: number;
  /** ms since the epoch. */
  expiresAt: number;
  renewedAt: number;
}

export class LeaseHeldError extends Error {
  readonly code = 'LeaseHeld';
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
  readonly code = 'LeaseLost';
  constructor(why: string) {
    super(`the channel lease was lost: ${why}`);
    this.name = 'LeaseLostError';
  }
}

/** Another worker took the channel over while this one could not renew: it must not come back. */
export class LeaseTakenError extends Error {
  readonly code = 'LeaseTaken';
  readonly holder: string;
  constructor(record: LeaseRecord) {
    super(`the channel was taken over by ${record.holder} (lease epoch ${record.epoch})`);
    this.name = 'LeaseTakenError';
    this.holder = record.holder;
  }
}

/**
 * Why the lease was lost. `taken`: another holder wrote the lease (fencing: never come back).
 * `unrenewable`: the store did not confirm a renewal in time; the lease may be taken again
 * once the store answers, if no one else took it meanwhile (reacquire()).
 */
export type LeaseLoss =
  { kind: 'taken'; detail: string } | { kind: 'unrenewable'; detail: string; error: unknown };

/** A renewal attempt that the store did not answer within its slot. */
export class RenewalTimeoutError extends Error {
  readonly code = 'RenewalTimedOut';
  constructor(key: string, ms: number, message = `no answer to the renewal of ${key} within ${ms} ms`) {
    super(message);
    this.name = 'RenewalTimeoutError';
  }
}

/**
 * No renewal was confirmed in time because this process itself did not run: its timers fired a
 * renewal period or more late (an event loop starved of CPU on a loaded node, a frozen container).
 * Said so, so that nobody goes looking for an S3 outage that was not there.
 */
export class WorkerStalledError extends RenewalTimeoutError {
  readonly lateMs: number;
  /** `storeError`: what the store said to the last renewal, if it failed too (kept as the cause). */
  constructor(key: string, renewEveryMs: number, lateMs: number, storeError?: unknown) {
    super(
      key,
      renewEveryMs,
      `this worker's own timers ran ${lateMs} ms late (its process was stalled or starved of CPU), ` +
        `so no renewal of ${key} was confirmed in time` +
        (storeError === undefined
          ? ''
          : `; the last renewal failed too: ${(storeError as Error).message ?? String(storeError)}`),
    );
    this.name = 'WorkerStalledError';
    this.lateMs = lateMs;
    if (storeError !== undefined) this.cause = storeError;
  }
}
