/**
 * The worker's one producer of status. Start-up publishes Pending, and Error when the auth state
 * cannot be loaded, before any session exists; from then on the supervisor publishes every phase
 * change. Both go through here, so the `wa_worker_phase` and `wa_worker_degraded` metrics, the
 * phase the health endpoints show, and the status events on JetStream (with their one sequence)
 * never disagree.
 */
import type { Metrics } from '../ops/metrics.ts';
import { setPhase } from '../ops/metrics.ts';
import type { Phase } from '../session/phase-machine.ts';
import type { StatusPort, StatusReport } from '../session/ports.ts';
import type { EventSink } from './sink.ts';

export class StatusPublisher implements StatusPort {
  private readonly metrics: Metrics;
  private sink: Pick<EventSink, 'publishStatus'> | undefined;
  private lastPhase: Phase = 'Pending';
  private lastReport: StatusReport | undefined;
  private pacing: StatusReport['pacing'];
  /** Statuses published before the sink exists (Pending, a wait for S3 or KMS), in order. */
  private readonly early: StatusReport[] = [];
  private readonly phaseWaiters: { phase: Phase; resolve: () => void }[] = [];

  /** Created with the metrics, before NATS: the phase metric says Pending from the start. */
  constructor(metrics: Metrics) {
    this.metrics = metrics;
    setPhase(metrics, this.lastPhase);
  }

  /**
   * Status events go to `sink` from now on (once NATS is connected); those published before go
   * first, in the order they were published. Start-up takes the lease while NATS connects, so a
   * wait for S3 can be reported before there is anywhere to send it.
   */
  sendTo(sink: Pick<EventSink, 'publishStatus'>): void {
    this.sink = sink;
    for (const report of this.early.splice(0)) sink.publishStatus(report);
  }

  /** Resolves the first time `phase` is published from now on (start-up's timeline). */
  whenPhase(phase: Phase): Promise<void> {
    return new Promise((resolve) => this.phaseWaiters.push({ phase, resolve }));
  }

  /** The last phase published. */
  get phase(): Phase {
    return this.lastPhase;
  }

  publish(report: StatusReport): void {
    report = { ...report, ...(this.pacing ? { pacing: this.pacing } : {}) };
    this.lastReport = report;
    this.lastPhase = report.phase;
    setPhase(this.metrics, report.phase);
    this.metrics.degraded.set(report.degraded ? 1 : 0);
    if (this.sink) this.sink.publishStatus(report);
    else this.early.push(report);
    for (let i = this.phaseWaiters.length - 1; i >= 0; i--) {
      const waiter = this.phaseWaiters[i]!;
      if (waiter.phase !== report.phase) continue;
      this.phaseWaiters.splice(i, 1);
      waiter.resolve();
    }
  }

  /**
   * The send pacing's state (pacing/governor.ts). A change of `throttled` publishes the last
   * status again with it, so the channel's RateLimited condition follows without a phase change;
   * a new rate alone rides along with the next status.
   */
  setPacing(pacing: NonNullable<StatusReport['pacing']>): void {
    // No pacing known yet counts as not throttled: the first report of an unthrottled channel
    // rides along with the next status instead of repeating the current one.
    const flipped = (this.pacing?.throttled ?? false) !== pacing.throttled;
    this.pacing = pacing;
    if (flipped && this.lastReport && this.sink) this.publish(this.lastReport);
  }

  /** Start-up, before a session exists: Pending while taking the lease, Error if it cannot start. */
  publishStartup(phase: 'Pending' | 'Error', reason: string, message?: string): void {
    this.publish({
      phase,
      reason,
      message,
      account: undefined,
      reconnects: 0,
      degraded: false,
      lastConnectedAt: undefined,
    });
  }
}
