/**
 * A token bucket: `burst` sends may go at once, then one per `60 000 / ratePerMinute` ms. Pure:
 * every call takes the time, so tests drive it with a fake clock and the governor with its own.
 * Tokens are fractional while they refill; a send needs one whole token.
 */
export interface BucketSettings {
  /** Tokens added per minute (sends per minute in the long run). Positive. */
  ratePerMinute: number;
  /** The most tokens the bucket holds (sends that may go back to back). At least 1. */
  burst: number;
}

export class TokenBucket {
  private tokens: number;
  private at: number;
  private rate: number;
  private readonly burst: number;

  /** Starts full: a channel that has been quiet may send its burst at once. */
  constructor(settings: BucketSettings, now: number) {
    if (!(settings.ratePerMinute > 0)) throw new Error('ratePerMinute must be positive');
    if (!(settings.burst >= 1)) throw new Error('burst must be at least 1');
    this.rate = settings.ratePerMinute;
    this.burst = settings.burst;
    this.tokens = settings.burst;
    this.at = now;
  }

  get ratePerMinute(): number {
    return this.rate;
  }

  /** Tokens now (fractional), for metrics and tests. */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** How long until one whole token is there: 0 when a send may go now. */
  waitMs(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) return 0;
    return Math.ceil(((1 - this.tokens) * 60_000) / this.rate);
  }

  /**
   * How long until `ahead + 1` tokens will have come (the sends queued before this one take
   * theirs first): the estimate a refused send is told to retry after.
   */
  waitForPositionMs(now: number, ahead: number): number {
    this.refill(now);
    const missing = ahead + 1 - this.tokens;
    return missing <= 0 ? 0 : Math.ceil((missing * 60_000) / this.rate);
  }

  /** Takes one token if there is one. */
  tryTake(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Gives back a token taken for a send that did not go (capped at the burst). */
  refund(now: number): void {
    this.refill(now);
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }

  /** A new refill rate from now on (the adaptive limit); the tokens already there stay. */
  setRate(ratePerMinute: number, now: number): void {
    if (!(ratePerMinute > 0)) throw new Error('ratePerMinute must be positive');
    this.refill(now);
    this.rate = ratePerMinute;
  }

  /** Empties the bucket: after WhatsApp refused for rate, no burst may follow at once. */
  drain(now: number): void {
    this.refill(now);
    this.tokens = Math.min(this.tokens, 0);
  }

  private refill(now: number): void {
    // A clock that steps back adds nothing (and takes nothing away).
    const elapsed = Math.max(0, now - this.at);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 60_000);
    this.at = Math.max(this.at, now);
  }
}
