/**
 * Takes the channel — the lease, then the auth state — and takes it back after the lease was
 * lost to an outage, retrying with backoff while S3 or KMS are away and saying why on the
 * status subject. A worker that cannot reach its store stays up and waits: a restart would not
 * bring S3 back, it would only add the kubelet's growing back-off and hide the cause.
 *
 * What a retry cannot fix ends the attempt with StartFailure (a data key of another channel, a
 * corrupt object); another worker taking the channel meanwhile ends it with LeaseTakenError.
 */
import type { Logger } from 'pino';
import { LeaseTakenError } from './auth-store/lease-record.ts';
import type { WorkerConfig } from './config.ts';
import { describeFailure, failureCause } from './ops/failure-cause.ts';
import type { Metrics } from './ops/metrics.ts';
import type { StartupTimeline } from './ops/startup-timeline.ts';
import type { AuthStateHandle } from './session/ports.ts';
import {
  acquireChannelLease,
  describeStateError,
  openChannelState,
  type ChannelLeaseHandle,
} from './auth-store-setup.ts';

export interface HeldChannel {
  lease: ChannelLeaseHandle;
  auth: AuthStateHandle;
}

/** What the holder reports while it waits: the phase stays, the reason and message say why. */
export type WaitReport = (reason: string, message: string) => void;

/** A failure to load the state that a retry cannot fix. */
export class StartFailure extends Error {
  readonly reason: string;
  constructor(reason: string, message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'StartFailure';
    this.reason = reason;
  }
}

/** State errors that only say a dependency is away; anything else is a verdict on the state. */
const RETRYABLE = new Set(['StoreUnavailable', 'KmsUnavailable', 'LeaseLost']);

export interface ChannelHoldDeps {
  config: WorkerConfig;
  logger: Logger;
  metrics: Metrics;
  /** Aborted on SIGTERM: every wait ends, and take()/takeBack() return undefined. */
  stop: AbortSignal;
  report: WaitReport;
  /** Notes when the lease is acquired (main.ts: the start-up timeline). */
  timeline?: Pick<StartupTimeline, 'step'>;
  /** Backoff between attempts: 1 s doubling to this (default 10 s), with jitter. */
  maxDelayMs?: number;
  random?: () => number;
}

export class ChannelHold {
  private readonly deps: ChannelHoldDeps;

  constructor(deps: ChannelHoldDeps) {
    this.deps = deps;
  }

  /** At start: the lease (waiting for another holder if need be), then the state. */
  async take(): Promise<HeldChannel | undefined> {
    return this.retry(() => this.takeOnce());
  }

  /**
   * After the lease was lost to an outage: the same lease again with a new epoch, unless
   * another worker wrote it meanwhile (LeaseTakenError, thrown: this worker must stop).
   */
  async takeBack(lease: ChannelLeaseHandle): Promise<HeldChannel | undefined> {
    // Until it is taken back; a later failure to load the state releases it (open()), and from
    // then on the channel is taken like at start (another worker may have it by then).
    let toTakeBack: ChannelLeaseHandle | undefined = lease;
    // The LeaseLost status already says S3 is away: StoreUnavailable would only repeat it.
    return this.retry(async () => {
      if (!toTakeBack) return this.takeOnce();
      const taking = toTakeBack;
      await this.attempt('take the channel lease back', 'S3', () => taking.lease.reacquire());
      this.deps.logger.info({ epoch: taking.lease.epoch }, 'channel lease taken back');
      toTakeBack = undefined;
      return this.open(taking);
    }, 'StoreUnavailable');
  }

  private async takeOnce(): Promise<HeldChannel> {
    const lease = await this.attempt('take the channel lease', 'S3', () =>
      acquireChannelLease(this.deps.config, this.deps.logger, this.deps.metrics),
    );
    this.deps.timeline?.step('lease acquired');
    return this.open(lease);
  }

  private async open(lease: ChannelLeaseHandle): Promise<HeldChannel> {
    try {
      const auth = await openChannelState(this.deps.config, this.deps.logger, this.deps.metrics, lease);
      return { lease, auth };
    } catch (err) {
      const { reason, message } = describeStateError(err);
      if (!RETRYABLE.has(reason)) throw new StartFailure(reason, message, err);
      // Let another worker have the channel while this one waits; it takes it again later.
      await lease.release().catch(() => undefined);
      (lease.store as { destroy?: () => void }).destroy?.();
      throw new Unavailable(reason, message, err);
    }
  }

  /** Runs one attempt; a store error becomes Unavailable (retried), anything else is thrown. */
  private async attempt<T>(what: string, dependency: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof LeaseTakenError || err instanceof StartFailure) throw err;
      throw new Unavailable('StoreUnavailable', `cannot ${what}: ${describeFailure(dependency, err)}`, err);
    }
  }

  private async retry(
    attempt: () => Promise<HeldChannel>,
    alreadySaid = '',
  ): Promise<HeldChannel | undefined> {
    const { stop, logger, report } = this.deps;
    let lastReported = alreadySaid;
    for (let failures = 0; !stop.aborted; failures++) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof Unavailable)) throw err;
        const delayMs = this.delay(failures);
        logger.warn(
          {
            err: err.cause,
            cause: failureCause(err.cause),
            reason: err.reason,
            endpoint: this.endpoint(err.reason),
            retryInMs: delayMs,
          },
          err.message,
        );
        // One status per change of cause, not one per attempt (the detail may vary between attempts).
        if (err.reason !== lastReported) report(err.reason, err.message);
        lastReported = err.reason;
        await pause(delayMs, stop);
      }
    }
    return undefined;
  }

  /** Where the worker was trying to reach: the configured endpoint, or AWS's regional one. */
  private endpoint(reason: string): string {
    const { s3, kms, stateDir } = this.deps.config;
    if (reason === 'KmsUnavailable') return kms.endpoint ?? `kms.${kms.region}.amazonaws.com`;
    if (stateDir) return stateDir;
    return s3.endpoint ?? `s3.${s3.region}.amazonaws.com`;
  }

  private delay(failures: number): number {
    const cap = this.deps.maxDelayMs ?? 10_000;
    const ceiling = Math.min(cap, 1_000 * 2 ** Math.min(failures, 20));
    return Math.floor(ceiling * (0.5 + (this.deps.random ?? Math.random)() / 2));
  }
}

/** A dependency is away: wait and try again. */
class Unavailable extends Error {
  readonly reason: string;
  constructor(reason: string, message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'Unavailable';
    this.reason = reason;
  }
}

function pause(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop.removeEventListener('abort', done);
      resolve();
    }
    stop.addEventListener('abort', done);
  });
}
