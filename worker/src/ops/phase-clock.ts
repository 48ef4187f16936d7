/**
 * Counts the seconds a session spends in each phase into `wa_worker_phase_seconds_total`.
 * Time is added when the phase changes and at every scrape, so a long Connected stretch shows
 * up as it goes and `rate(...{phase="Connected"}[w])` is the share of time connected.
 */
import type { Counter } from 'prom-client';
import type { Phase } from '../session/phase-machine.ts';

export class PhaseClock {
  private readonly counter: Counter<'phase'>;
  /** Milliseconds on a monotonic clock. */
  private readonly now: () => number;
  private phase: Phase | undefined;
  private since: number;

  constructor(counter: Counter<'phase'>, now: () => number = () => performance.now()) {
    this.counter = counter;
    this.now = now;
    this.since = now();
  }

  /** The session is in `phase` from now on. */
  enter(phase: Phase): void {
    if (phase === this.phase) return;
    this.flush();
    this.phase = phase;
  }

  /** Adds the time spent in the current phase since the last call (called at every scrape). */
  flush(): void {
    const t = this.now();
    if (this.phase !== undefined && t > this.since)
      this.counter.inc({ phase: this.phase }, (t - this.since) / 1000);
    this.since = t;
  }
}
