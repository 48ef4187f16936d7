/**
 * Where a start goes: each start-up step is noted with the milliseconds since the process
 * started (Node's performance.now() counts from the process start, before module loading), one
 * debug line per step, and the whole timeline once, at info, when the channel first reaches
 * Connected, so a slow start can be read from the worker's own log (docs/worker.md,
 * "Performance"). Steps overlap (the lease and the state load while NATS connects): the
 * figures are points in time, not durations.
 */
import type { Logger } from 'pino';

export class StartupTimeline {
  private readonly logger: Logger;
  private readonly steps: Record<string, number> = {};
  private done = false;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  /** Notes a step (only the first time it is reached, and only until start-up is done). */
  step(name: string): void {
    if (this.done || name in this.steps) return;
    const sinceStartMs = Math.round(performance.now());
    this.steps[name] = sinceStartMs;
    this.logger.debug({ step: name, sinceStartMs }, `start-up: ${name}`);
  }

  /** The last step: logs the timeline at info; later steps (a session started again) are not noted. */
  finish(name: string): void {
    this.step(name);
    if (this.done) return;
    this.done = true;
    this.logger.info({ sinceStartMs: this.steps }, `start-up took ${this.steps[name]} ms`);
  }
}
