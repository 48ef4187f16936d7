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

  /** Created with the metrics, before NATS: the phase metric says Pending from the start. */
  constructor(metrics: Metrics) {
    this.metrics = metrics;
    setPhase(metrics, this.lastPhase);
  }

  /** Status events go to `sink` from now on (once NATS is connected). */
  sendTo(sink: Pick<EventSink, 'publishStatus'>): void {
    this.sink = sink;
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
    if (!this.sink) throw new Error('status published before the event sink exists');
    this.sink.publishStatus(report);
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
