/**
 * The channel's send rate after WhatsApp's own refusals: each refusal (rate-overlimit, 429, 463)
 * halves the rate, down to a floor; after a quiet period the rate climbs back by a tenth of the
 * policy's rate per step, so a channel that was told "too fast" returns to full speed over
 * minutes, not at once (additive increase, multiplicative decrease, as TCP does). Pure: the
 * caller passes the time.
 *
 * Refusals that arrive together (several sends in flight hit the same limit) halve once: a
 * second halving needs `holdMs` since the last.
 */
export interface AdaptiveRateOptions {
  /** The policy's rate: the ceiling the rate recovers to. */
  ratePerMinute: number;
  /** The lowest rate halving reaches. */
  floorPerMinute: number;
  /** No second halving within this long of the last, and no recovery step before it. */
  holdMs: number;
  /** One recovery step (a tenth of the policy's rate) per this long without a refusal. */
  stepMs: number;
}

export const ADAPTIVE_DEFAULTS = { holdMs: 30_000, stepMs: 60_000 } as const;

export class AdaptiveRate {
  private readonly options: AdaptiveRateOptions;
  /** The rate set by the last refusal (and the time of it); undefined while at full rate. */
  private cut: { rate: number; at: number } | undefined;

  constructor(options: AdaptiveRateOptions) {
    this.options = { ...options, floorPerMinute: Math.min(options.floorPerMinute, options.ratePerMinute) };
  }

  /** The rate in force at `now`. */
  current(now: number): number {
    const { ratePerMinute, holdMs, stepMs } = this.options;
    if (!this.cut) return ratePerMinute;
    const quiet = now - this.cut.at - holdMs;
    const steps = quiet < 0 ? 0 : Math.floor(quiet / stepMs) + 1;
    const rate = this.cut.rate + (steps * ratePerMinute) / 10;
    if (rate >= ratePerMinute) {
      this.cut = undefined;
      return ratePerMinute;
    }
    return rate;
  }

  /** Whether the rate is below the policy's (WhatsApp refused recently enough). */
  reduced(now: number): boolean {
    return this.current(now) < this.options.ratePerMinute;
  }

  /** WhatsApp refused a send for rate: halve (unless just halved). Returns the new rate. */
  refused(now: number): number {
    const rate = this.current(now);
    if (this.cut && now - this.cut.at < this.options.holdMs) return rate;
    this.cut = { rate: Math.max(this.options.floorPerMinute, rate / 2), at: now };
    return this.cut.rate;
  }

  /** When the next recovery step is due (for a timer that republishes the rate), if any. */
  nextChangeAt(now: number): number | undefined {
    if (!this.cut || !this.reduced(now)) return undefined;
    const { holdMs, stepMs } = this.options;
    const start = this.cut.at + holdMs;
    if (now < start) return start;
    return start + (Math.floor((now - start) / stepMs) + 1) * stepMs;
  }
}
