/**
 * Builds the channel's send pacing from its policy and wires its signals to metrics and the
 * status: the governor (governor.ts), the seam the `send` command uses (paced-send.ts), and the
 * known contacts loaded with the auth state (known-contacts.ts).
 */
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config.ts';
import type { Metrics } from '../ops/metrics.ts';
import type { AuthStateHandle } from '../session/ports.ts';
import { SendGovernor, type ClinicBudget } from './governor.ts';
import { KnownContacts } from './known-contacts.ts';
import { GovernedSends, RATE_REFUSAL_ACK_CODES } from './paced-send.ts';

export interface Pacing {
  governor: SendGovernor;
  sends: GovernedSends;
  contacts: KnownContacts;
  /** A message's server ack carried an error code: 429/463 slow the channel down. */
  ackRefused(code: string): void;
  /** A contact wrote to the channel: known (stored at once when new), so a reply is no first message. */
  inboundFrom(jid: string): void;
}

export function createPacing(
  config: Pick<WorkerConfig, 'sendPolicy'>,
  auth: Pick<AuthStateHandle, 'knownContacts'>,
  metrics: Metrics,
  logger: Logger,
  publish: (pacing: { throttled: boolean; ratePerMinute: number }) => void,
  clinic?: ClinicBudget,
): Pacing {
  const contacts = auth.knownContacts ?? KnownContacts.inMemory();
  // Called by the governor only after its constructor returned: `governor` is set by then.
  const changed = () => {
    const state = { throttled: governor.throttled, ratePerMinute: round(governor.ratePerMinute) };
    metrics.sendQueueDepth.set(governor.queueDepth);
    metrics.sendRate.set(state.ratePerMinute);
    metrics.sendThrottled.set(state.throttled ? 1 : 0);
    metrics.newContactsToday.set(governor.newContactsToday);
    publish(state);
  };
  const governor: SendGovernor = new SendGovernor({
    policy: config.sendPolicy,
    contacts,
    timers: {
      now: Date.now,
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
    },
    random: Math.random,
    clinic,
    changed,
  });
  changed();
  const sends = new GovernedSends(governor, logger, (reason) => metrics.sendsRateLimited.inc({ reason }));
  return {
    governor,
    sends,
    contacts,
    inboundFrom: (jid) => {
      if (!contacts.receivedFrom(jid, Date.now())) return;
      // Writes are coalesced: a burst of new contacts costs a write or two, not one each.
      contacts
        .flush()
        .catch((err: unknown) =>
          logger.warn({ err }, 'could not store a new contact; it is stored with the next one'),
        );
    },
    ackRefused: (code) => {
      if (!RATE_REFUSAL_ACK_CODES.has(code)) return;
      metrics.whatsappRateRefusals.inc({ code });
      logger.warn({ code }, 'WhatsApp refused a sent message for rate; the channel slows down');
      governor.whatsappRefused();
    },
  };
}

const round = (n: number) => Math.round(n * 100) / 100;
