/**
 * The send governor: every `send` asks it for a permit before anything leaves. It combines
 *
 * - the channel's token bucket (token-bucket.ts), at the rate adaptive-rate.ts allows after
 *   WhatsApp's own refusals;
 * - the daily cap on first messages to new contacts (new-contact-cap.ts);
 * - optional random spacing between sends (`jitterMs`);
 * - the clinic's budget shared by all its channels (clinic-budget.ts), when there is one.
 *
 * A send that cannot go now either waits in a bounded FIFO queue (the command prefers `wait`)
 * or is refused with RateLimitedError and a retry-after (`refuse`, a full queue, a wait longer
 * than `maxWaitMs`, or the daily cap). Nothing is dropped silently: every admit() resolves
 * with a permit or rejects with a RateLimitedError naming why and when to retry.
 */
import { AdaptiveRate, ADAPTIVE_DEFAULTS } from './adaptive-rate.ts';
import { contactOf } from './known-contacts.ts';
import { NewContactCap, type KnownContactsView } from './new-contact-cap.ts';
import type { SendPolicy } from './send-policy.ts';
import { TokenBucket } from './token-bucket.ts';

export type WaitPreference = 'wait' | 'refuse';

/** What held a send back (the RateLimited message and the metric's label). */
export type LimitReason = 'rate' | 'queue-full' | 'new-contacts' | 'clinic' | 'whatsapp';

export class RateLimitedError extends Error {
  readonly reason: LimitReason;
  readonly retryAfterMs: number;

  constructor(reason: LimitReason, retryAfterMs: number, message: string) {
    super(message);
    this.name = 'RateLimitedError';
    this.reason = reason;
    this.retryAfterMs = Math.max(1_000, Math.ceil(retryAfterMs));
  }
}

/** The clinic-wide budget (clinic-budget.ts): one token per send, shared by the clinic's channels. */
export interface ClinicBudget {
  /** Takes a token, or says how long until one is there. Never throws for "no token". */
  take(): Promise<{ ok: true } | { ok: false; waitMs: number }>;
}

/** The right to send one message now. Exactly one of sent() / notSent() is called. */
export interface Permit {
  /** Whether the recipient is a contact the number never talked to (a first message). */
  readonly newContact: boolean;
  /** The message left: a new contact is now known (durably, before the reply). */
  sent(): Promise<void>;
  /**
   * Nothing left (not connected, refused): the new-contact place comes back, and the token too
   * unless `refund` is false (WhatsApp refused for rate: the send must not go again at once).
   */
  notSent(options?: { refund?: boolean }): void;
}

/** The contacts store the governor records first messages in (known-contacts.ts). */
export interface ContactLedger extends KnownContactsView {
  sentTo(jid: string, now: number): void;
  flush(): Promise<void>;
}

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface GovernorDeps {
  policy: SendPolicy;
  contacts: ContactLedger;
  timers: Timers;
  random: () => number;
  clinic?: ClinicBudget | undefined;
  /** The queue depth or the throttled state changed (metrics, the status condition). */
  changed?: (() => void) | undefined;
}

interface Waiter {
  contact: string;
  newContact: boolean;
  deadline: number;
  resolve: (permit: Permit) => void;
  reject: (err: RateLimitedError) => void;
}

/** Halving stops here: a channel WhatsApp keeps refusing still sends one message a minute. */
const FLOOR_PER_MINUTE = 1;

export class SendGovernor {
  private readonly deps: GovernorDeps;
  private readonly bucket: TokenBucket;
  private readonly adaptive: AdaptiveRate;
  private readonly cap: NewContactCap;
  private readonly queue: Waiter[] = [];
  /** Jitter: no send before this time. */
  private notBefore = 0;
  private timer: unknown;
  private pumping = false;
  private recoveryTimer: unknown;
  private stopped = false;

  constructor(deps: GovernorDeps) {
    this.deps = deps;
    const now = deps.timers.now();
    this.bucket = new TokenBucket(
      { ratePerMinute: deps.policy.ratePerMinute, burst: deps.policy.burst },
      now,
    );
    this.adaptive = new AdaptiveRate({
      ratePerMinute: deps.policy.ratePerMinute,
      floorPerMinute: FLOOR_PER_MINUTE,
      ...ADAPTIVE_DEFAULTS,
    });
    this.cap = new NewContactCap(deps.policy.newContactsPerDay, deps.contacts);
  }

  /** Sends waiting for their turn. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** The rate in force (sends per minute): the policy's, or less after WhatsApp refused. */
  get ratePerMinute(): number {
    return this.adaptive.current(this.deps.timers.now());
  }

  /** Whether WhatsApp refused for rate recently and the channel still sends below its policy. */
  get throttled(): boolean {
    return this.adaptive.reduced(this.deps.timers.now());
  }

  /** First messages sent in the last 24 h. */
  get newContactsToday(): number {
    return this.cap.usedAt(this.deps.timers.now());
  }

  /**
   * A permit for one send to `jid`, now or after waiting its turn; or RateLimitedError.
   */
  async admit(jid: string, prefer: WaitPreference): Promise<Permit> {
    if (this.stopped) throw new RateLimitedError('rate', 5_000, 'the worker is stopping');
    const now = this.deps.timers.now();
    this.syncRate(now);
    const contact = contactOf(jid);
    // The daily cap is about people: a group the number is in is not a first contact.
    const capped = jid.endsWith('@g.us')
      ? ({ ok: true, newContact: false } as const)
      : this.cap.reserve(contact, now);
    if (!capped.ok) {
      throw new RateLimitedError(
        'new-contacts',
        capped.retryAfterMs,
        `the channel's daily cap of first messages to new contacts (spec.sendPolicy.newContactsPerDay = ` +
          `${this.deps.policy.newContactsPerDay}) is reached; writing to contacts it already talked to still works`,
      );
    }
    const { newContact } = capped;
    try {
      if (this.queue.length === 0 && this.ready(now)) {
        const clinic = await this.takeClinic();
        if (clinic.ok) {
          // The clinic check was asynchronous: the channel's token may have been taken meanwhile.
          if (this.queue.length === 0 && this.takeToken(this.deps.timers.now()))
            return this.permit(contact, newContact);
        } else if (prefer === 'refuse') {
          throw new RateLimitedError('clinic', clinic.waitMs, CLINIC_MESSAGE);
        }
      }
      const wait = this.estimateWaitMs(now);
      if (prefer === 'refuse') throw new RateLimitedError('rate', wait, this.rateMessage());
      if (this.queue.length >= this.deps.policy.queueLimit) {
        throw new RateLimitedError(
          'queue-full',
          wait,
          `${this.queue.length} sends already wait for their turn (spec.sendPolicy.queueLimit); retry later`,
        );
      }
      if (wait > this.deps.policy.maxWaitMs) throw new RateLimitedError('rate', wait, this.rateMessage());
    } catch (err) {
      this.cap.cancel(contact);
      throw err;
    }
    return new Promise<Permit>((resolve, reject) => {
      this.queue.push({ contact, newContact, deadline: now + this.deps.policy.maxWaitMs, resolve, reject });
      this.deps.changed?.();
      this.schedule(0);
    });
  }

  /**
   * WhatsApp refused a send for rate (rate-overlimit, 429, 463): halve the rate, empty the
   * bucket (no burst right after a refusal), and recover slowly (adaptive-rate.ts).
   */
  whatsappRefused(): void {
    const now = this.deps.timers.now();
    const rate = this.adaptive.refused(now);
    this.bucket.setRate(rate, now);
    this.bucket.drain(now);
    this.deps.changed?.();
    this.watchRecovery(now);
  }

  /** Stops: every waiting send is refused (the worker is going; its command gets an answer). */
  stop(): void {
    this.stopped = true;
    this.deps.timers.clearTimeout(this.timer);
    this.deps.timers.clearTimeout(this.recoveryTimer);
    for (const waiter of this.queue.splice(0)) {
      this.cap.cancel(waiter.contact);
      waiter.reject(new RateLimitedError('rate', 5_000, 'the worker is stopping; retry on the next one'));
    }
    this.deps.changed?.();
  }

  private ready(now: number): boolean {
    return now >= this.notBefore && this.bucket.waitMs(now) === 0;
  }

  private takeToken(now: number): boolean {
    if (now < this.notBefore || !this.bucket.tryTake(now)) return false;
    const { jitterMs } = this.deps.policy;
    this.notBefore = now + (jitterMs > 0 ? Math.floor(this.deps.random() * jitterMs) : 0);
    return true;
  }

  private async takeClinic(): Promise<{ ok: true } | { ok: false; waitMs: number }> {
    return this.deps.clinic ? this.deps.clinic.take() : { ok: true };
  }

  private estimateWaitMs(now: number): number {
    const ahead = this.queue.length;
    const jitter = (this.deps.policy.jitterMs / 2) * (ahead + 1);
    return Math.max(this.bucket.waitForPositionMs(now, ahead), this.notBefore - now) + jitter;
  }

  private rateMessage(): string {
    const rate = Math.round(this.adaptive.current(this.deps.timers.now()) * 100) / 100;
    const policy = this.deps.policy.ratePerMinute;
    return rate < policy
      ? `the channel sends at most ${rate} messages a minute for now: WhatsApp refused a send for rate ` +
          `(its policy is ${policy}); retry after the time given`
      : `the channel sends at most ${policy} messages a minute (spec.sendPolicy.ratePerMinute, burst ` +
          `${this.deps.policy.burst}); retry after the time given`;
  }

  private permit(contact: string, newContact: boolean): Permit {
    let settled = false;
    const settle = () => {
      if (settled) throw new Error('a send permit was settled twice');
      settled = true;
    };
    return {
      newContact,
      sent: async () => {
        settle();
        if (newContact) {
          this.deps.contacts.sentTo(contact, this.deps.timers.now());
          this.cap.confirm(contact);
          await this.deps.contacts.flush();
        }
      },
      notSent: (options) => {
        settle();
        this.cap.cancel(contact);
        if (options?.refund !== false) this.bucket.refund(this.deps.timers.now());
        this.schedule(0);
      },
    };
  }

  private schedule(ms: number): void {
    if (this.stopped || this.queue.length === 0) return;
    this.deps.timers.clearTimeout(this.timer);
    this.timer = this.deps.timers.setTimeout(() => void this.pump(), ms);
  }

  /** Hands out permits to the queue's head while tokens allow; sleeps until the next one is due. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        let now = this.deps.timers.now();
        this.syncRate(now);
        this.expire(now);
        if (this.queue.length === 0) break;
        const wait = Math.max(this.bucket.waitMs(now), this.notBefore - now);
        if (wait > 0) return this.schedule(wait);
        const clinic = await this.takeClinic();
        // Stopped, or every waiter expired, while the clinic's budget was asked.
        if (this.stopped || this.queue.length === 0) return;
        if (!clinic.ok) return this.schedule(clinic.waitMs);
        now = this.deps.timers.now();
        if (!this.takeToken(now)) continue;
        const head = this.queue.shift()!;
        this.deps.changed?.();
        head.resolve(this.permit(head.contact, head.newContact));
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Sends whose wait passed `maxWaitMs` (the rate was cut meanwhile) are refused, not kept. */
  private expire(now: number): void {
    for (let i = 0; i < this.queue.length;) {
      const waiter = this.queue[i]!;
      if (waiter.deadline >= now) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.cap.cancel(waiter.contact);
      waiter.reject(new RateLimitedError('rate', this.estimateWaitMs(now), this.rateMessage()));
      this.deps.changed?.();
    }
  }

  private syncRate(now: number): void {
    const rate = this.adaptive.current(now);
    if (rate !== this.bucket.ratePerMinute) this.bucket.setRate(rate, now);
  }

  /** While throttled, wakes at each recovery step so the rate, the metric and the condition follow. */
  private watchRecovery(now: number): void {
    this.deps.timers.clearTimeout(this.recoveryTimer);
    const next = this.adaptive.nextChangeAt(now);
    if (next === undefined || this.stopped) return;
    this.recoveryTimer = this.deps.timers.setTimeout(() => {
      const at = this.deps.timers.now();
      this.syncRate(at);
      this.deps.changed?.();
      this.watchRecovery(at);
      this.schedule(0);
    }, next - now);
  }
}

const CLINIC_MESSAGE =
  "the clinic's send budget, shared by all its channels, is used up for now; retry after the time given";
