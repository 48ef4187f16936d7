/**
 * WhatsApp's "too fast" answer, on demand: the queries a companion makes before each message to
 * someone new (usync: the recipient's devices) are answered `<error code="429"
 * text="rate-overlimit"/>`, as WhatsApp answers a number that sends too fast. Baileys 7 then
 * throws `Error('rate-overlimit')` with `data: 429` from sendMessage, and nothing is sent.
 *
 * Two switches, both per simulator: refuse the next `times` queries (a deterministic test), and
 * a limit of `perMinute` queries per companion device in any 60 s (a realistic one: a client
 * that slows down below it is no longer refused). Every refusal is counted and timestamped.
 */
export interface RateLimitPolicy {
  /** The next this many usync queries (from any device) are refused. */
  times?: number;
  /** More than this many usync queries from one device in any 60 s are refused. Absent: no limit. */
  perMinute?: number;
}

export interface RateLimitRefusal {
  /** The companion device that was refused. */
  device: string;
  at: number;
}

const WINDOW_MS = 60_000;

export class RateLimits {
  #times = 0;
  #perMinute: number | undefined;
  /** Per device: when its recent queries were answered (within the window). */
  readonly #recent = new Map<string, number[]>();
  readonly refusals: RateLimitRefusal[] = [];

  set(policy: RateLimitPolicy): void {
    this.#times = policy.times ?? 0;
    this.#perMinute = policy.perMinute;
    this.#recent.clear();
  }

  get(): RateLimitPolicy {
    return {
      ...(this.#times > 0 ? { times: this.#times } : {}),
      ...(this.#perMinute === undefined ? {} : { perMinute: this.#perMinute }),
    };
  }

  /** Whether this query of `device` is over the limit (and then it is counted as refused). */
  refuses(device: string, now = Date.now()): boolean {
    if (this.#times > 0) {
      this.#times--;
      return this.#refused(device, now);
    }
    if (this.#perMinute === undefined) return false;
    const recent = (this.#recent.get(device) ?? []).filter((t) => t > now - WINDOW_MS);
    if (recent.length >= this.#perMinute) {
      this.#recent.set(device, recent);
      return this.#refused(device, now);
    }
    recent.push(now);
    this.#recent.set(device, recent);
    return false;
  }

  #refused(device: string, at: number): true {
    this.refusals.push({ device, at });
    return true;
  }
}
