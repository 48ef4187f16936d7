/**
 * The clinic's send budget, shared by all its channels: one token bucket whose state lives in
 * the clinic's send-log bucket (JetStream key-value, contract/idempotency-bucket.ts) under one
 * key, `_clinic.send-budget`, and is taken by compare-and-set (a write that names the revision
 * it read). Every worker of the clinic reads the same state, so ten channels share one rate, and
 * a channel that sends nothing leaves its share to the others (dividing the budget among the
 * channels up front would waste it, and change every pod of the clinic when one is added).
 *
 * The refill is computed from the stored time and the taker's clock: workers' clocks that
 * disagree by a second make the budget a second's worth looser or tighter, never stuck (a time
 * before the stored one adds nothing). If NATS cannot be asked, the budget lets the send go:
 * the send itself needs the same NATS for its send log, and the channel's own bucket still holds.
 */
import type { KV, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import {
  CLINIC_SEND_BUDGET_KEY,
  DEFAULT_CLINIC_SEND_BUDGET,
  idempotencyBucketName,
} from '../../../contract/index.ts';
import type { ClinicBudget } from './governor.ts';

export interface ClinicBudgetSettings {
  ratePerMinute: number;
  burst: number;
}

/** The default when the operator passes none (WA_CLINIC_SEND_BUDGET). */
export const DEFAULT_CLINIC_BUDGET: ClinicBudgetSettings = { ...DEFAULT_CLINIC_SEND_BUDGET };

export interface BudgetState {
  /** Tokens at `at` (fractional while refilling). */
  tokens: number;
  /** ms since the epoch. */
  at: number;
}

export type BudgetTake = { ok: true; next: BudgetState } | { ok: false; waitMs: number };

/** One take from the stored state (absent: a full bucket). Pure. */
export function takeFromBudget(
  state: BudgetState | undefined,
  settings: ClinicBudgetSettings,
  now: number,
): BudgetTake {
  const at = state ? Math.max(state.at, now) : now;
  const elapsed = state ? Math.max(0, now - state.at) : 0;
  const tokens = state
    ? Math.min(settings.burst, state.tokens + (elapsed * settings.ratePerMinute) / 60_000)
    : settings.burst;
  if (tokens >= 1) return { ok: true, next: { tokens: tokens - 1, at } };
  return { ok: false, waitMs: Math.ceil(((1 - tokens) * 60_000) / settings.ratePerMinute) };
}

/** Wrong expected last sequence: another worker wrote the key between our read and our write. */
const WRONG_LAST_SEQUENCE = 10071;
/** Rounds of read-and-write before giving way to the others for a moment. */
const ROUNDS = 4;

export class KvClinicBudget implements ClinicBudget {
  private readonly kv: KV;
  private readonly settings: ClinicBudgetSettings;
  private readonly logger: Logger;

  private constructor(kv: KV, settings: ClinicBudgetSettings, logger: Logger) {
    this.kv = kv;
    this.settings = settings;
    this.logger = logger;
  }

  /** Binds to the clinic's bucket without looking it up (like the send log: send-log.ts). */
  static async open(
    nc: NatsConnection,
    clinicId: string,
    settings: ClinicBudgetSettings,
    logger: Logger,
  ): Promise<KvClinicBudget> {
    const kv = await nc.jetstream({ checkAPI: false }).views.kv(idempotencyBucketName(clinicId), {
      bindOnly: true,
      allow_direct: true,
    });
    return new KvClinicBudget(kv, settings, logger);
  }

  async take(): Promise<{ ok: true } | { ok: false; waitMs: number }> {
    for (let round = 0; round < ROUNDS; round++) {
      let entry;
      try {
        entry = await this.kv.get(CLINIC_SEND_BUDGET_KEY);
      } catch (err) {
        this.logger.warn({ err }, "cannot read the clinic's send budget; this send is not held back by it");
        return { ok: true };
      }
      const live = entry && entry.operation === 'PUT' ? entry : undefined;
      const taken = takeFromBudget(live?.json<BudgetState>(), this.settings, Date.now());
      if (!taken.ok) return taken;
      try {
        await this.kv.put(CLINIC_SEND_BUDGET_KEY, new TextEncoder().encode(JSON.stringify(taken.next)), {
          previousSeq: entry?.revision ?? 0,
        });
        return { ok: true };
      } catch (err) {
        if ((err as { api_error?: { err_code?: number } }).api_error?.err_code === WRONG_LAST_SEQUENCE)
          continue;
        this.logger.warn({ err }, "cannot write the clinic's send budget; this send is not held back by it");
        return { ok: true };
      }
    }
    // Other channels of the clinic took tokens every time we looked: let them, and look again soon.
    return { ok: false, waitMs: 250 };
  }
}
