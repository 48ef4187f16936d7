/**
 * The one seam between the `send` command and the governor: `paced()` takes a permit, runs the
 * send with it, and when WhatsApp itself answers "too fast" (rate-overlimit: its error 429 on
 * the query Baileys makes before the message leaves) slows the channel down and, for a command
 * that prefers to wait, sends again in the slower queue; a command that prefers `refuse` gets
 * RateLimited with a retry-after. Nothing is dropped: every path ends in a send or a refusal.
 */
import type { Logger } from 'pino';
import { RateLimitedError, type Permit, type SendGovernor, type WaitPreference } from './governor.ts';

export { RateLimitedError };

export interface SendPacing {
  paced<T>(
    command: { jid: string; whenRateLimited: WaitPreference },
    send: (permit: Permit) => Promise<T>,
  ): Promise<T>;
  /** Whether a failed send was WhatsApp refusing for rate (nothing left). */
  isWhatsAppRateLimit(err: unknown): boolean;
  /** Records WhatsApp's refusal (the rate halves) and gives the error to throw. */
  refusedByWhatsApp(err: unknown): RateLimitedError;
  /** The worker stops: every waiting send is answered RateLimited at once. */
  stop(): void;
}

/**
 * What Baileys 7.0.0-rc14 throws when WhatsApp refuses for rate: an IQ answered with
 * `<error code="429" text="rate-overlimit"/>` becomes a Boom whose message is the text and whose
 * `data` is the code (WABinary/generic-utils.js assertNodeErrorFree); sendMessage's device
 * query (usync) is such an IQ, and so is a group's metadata query.
 */
export function isRateOverlimit(err: unknown): boolean {
  const e = err as { message?: unknown; data?: unknown; output?: { statusCode?: unknown } } | undefined;
  return e?.data === 429 || e?.message === 'rate-overlimit' || e?.output?.statusCode === 429;
}

/**
 * Error codes of a message's server ack (`<ack error=…>`, reported by Baileys as a
 * messages.update with status ERROR and the code in messageStubParameters) that mean "slow
 * down": 429/rate-overlimit, and 463 (the account may not start new chats for now: WhatsApp's
 * reach-out time lock, what too many first messages earn).
 */
export const RATE_REFUSAL_ACK_CODES = new Set(['429', 'rate-overlimit', '463']);

/** Sends again after WhatsApp's refusal at most this many times (each in the slower queue). */
const MAX_TRIES = 3;

export class GovernedSends implements SendPacing {
  private readonly governor: SendGovernor;
  private readonly logger: Logger;
  private readonly refused: (reason: string) => void;

  constructor(governor: SendGovernor, logger: Logger, refused: (reason: string) => void = () => undefined) {
    this.governor = governor;
    this.logger = logger;
    this.refused = refused;
  }

  stop(): void {
    this.governor.stop();
  }

  async paced<T>(
    command: { jid: string; whenRateLimited: WaitPreference },
    send: (permit: Permit) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const permit = await this.governor
        .admit(command.jid, command.whenRateLimited)
        .catch((err: unknown) => Promise.reject(this.counted(err)));
      try {
        return await send(permit);
      } catch (err) {
        const again =
          err instanceof RateLimitedError &&
          err.reason === 'whatsapp' &&
          command.whenRateLimited === 'wait' &&
          attempt < MAX_TRIES;
        if (!again) throw this.counted(err);
        this.logger.info(
          { attempt },
          'WhatsApp refused a send for rate; sending it again at the slower rate',
        );
      }
    }
  }

  private counted(err: unknown): unknown {
    if (err instanceof RateLimitedError) this.refused(err.reason);
    return err;
  }

  isWhatsAppRateLimit(err: unknown): boolean {
    return isRateOverlimit(err);
  }

  refusedByWhatsApp(err: unknown): RateLimitedError {
    this.governor.whatsappRefused();
    const rate = this.governor.ratePerMinute;
    this.logger.warn(
      { err, ratePerMinute: rate },
      'WhatsApp refused a send for rate (rate-overlimit): the channel slows down',
    );
    return new RateLimitedError(
      'whatsapp',
      60_000 / rate,
      `WhatsApp refused the send for rate (rate-overlimit); the channel now sends at most ` +
        `${Math.round(rate * 100) / 100} messages a minute and recovers over minutes; retry after the time given`,
    );
  }
}
