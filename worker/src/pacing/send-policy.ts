/**
 * A channel's send policy (spec.sendPolicy of its WhatsAppChannel, passed to the worker as the
 * JSON of WA_SEND_POLICY) and its safe defaults. The defaults are deliberately slow: a number
 * that sends a few messages per second, or writes to hundreds of strangers a day, is what
 * WhatsApp's abuse systems ban (docs/operations.md, "Send pacing").
 */
import { CLINIC_SEND_BUDGET_LIMITS } from '../../../contract/index.ts';
export interface SendPolicy {
  /** Sends per minute in the long run (the token bucket's refill). */
  ratePerMinute: number;
  /** Sends that may go back to back after a quiet period (the bucket's size). */
  burst: number;
  /** First messages to contacts the number never talked to, in any 24 hours. 0: none. */
  newContactsPerDay: number;
  /** Up to this many extra milliseconds, chosen at random, between two sends. 0: none. */
  jitterMs: number;
  /** Sends that may wait for their turn; more are refused with RateLimited. */
  queueLimit: number;
  /** The longest a send waits in the queue; one that would wait longer is refused with RateLimited. */
  maxWaitMs: number;
}

export const DEFAULT_SEND_POLICY: SendPolicy = {
  ratePerMinute: 20,
  burst: 5,
  newContactsPerDay: 50,
  jitterMs: 0,
  queueLimit: 100,
  maxWaitMs: 30_000,
};

/**
 * The reply to a command may be sent for 60 s after the request (the worker's NATS `resp` limit,
 * operator/src/nats/credentials.ts): a send may not wait longer than this, or its reply is lost.
 */
export const MAX_WAIT_LIMIT_MS = 50_000;

/** Bounds of each field, as the CRD states them (crds/…yaml): the worker checks them again. */
const LIMITS: Record<keyof SendPolicy, [number, number]> = {
  ratePerMinute: [1, 600],
  burst: [1, 100],
  newContactsPerDay: [0, 10_000],
  jitterMs: [0, 60_000],
  queueLimit: [0, 10_000],
  maxWaitMs: [0, MAX_WAIT_LIMIT_MS],
};

/** The CRD's field (spec.sendPolicy.<name>) of each policy field, where the names differ. */
const FIELD_NAMES: Partial<Record<keyof SendPolicy, string>> = {
  maxWaitMs: 'maxWaitSeconds',
};

/**
 * Reads WA_SEND_POLICY: the spec's `sendPolicy` object as JSON (the operator passes it as
 * written; absent fields take the defaults). `maxWaitSeconds` is in seconds, as in the spec.
 */
export function parseSendPolicy(
  json: string | undefined,
): { ok: true; policy: SendPolicy } | { ok: false; error: string } {
  if (json === undefined || json.trim() === '') return { ok: true, policy: { ...DEFAULT_SEND_POLICY } };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, error: 'WA_SEND_POLICY is not JSON (the spec.sendPolicy object)' };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { ok: false, error: 'WA_SEND_POLICY must be a JSON object (the spec.sendPolicy object)' };
  const given = { ...(raw as Record<string, unknown>) };
  if ('maxWaitSeconds' in given) {
    given.maxWaitMs =
      typeof given.maxWaitSeconds === 'number' ? given.maxWaitSeconds * 1000 : given.maxWaitSeconds;
    delete given.maxWaitSeconds;
  }
  const policy: SendPolicy = { ...DEFAULT_SEND_POLICY };
  for (const [name, value] of Object.entries(given)) {
    if (!(name in LIMITS)) return { ok: false, error: `WA_SEND_POLICY: unknown field ${name}` };
    const field = name as keyof SendPolicy;
    const [min, max] = LIMITS[field];
    const shown = FIELD_NAMES[field] ?? field;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      const scale = field === 'maxWaitMs' ? 1000 : 1;
      return {
        ok: false,
        error: `WA_SEND_POLICY: ${shown} must be an integer from ${min / scale} to ${max / scale}`,
      };
    }
    policy[field] = value;
  }
  return { ok: true, policy };
}

/**
 * Reads WA_CLINIC_SEND_BUDGET: `{"ratePerMinute":…,"burst":…}`, the clinic's budget shared by all
 * its channels (clinic-budget.ts), as the operator passes it; absent: the default.
 */
export function parseClinicBudget(
  json: string | undefined,
  defaults: { ratePerMinute: number; burst: number },
): { ok: true; budget: { ratePerMinute: number; burst: number } } | { ok: false; error: string } {
  if (json === undefined || json.trim() === '') return { ok: true, budget: { ...defaults } };
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, error: 'WA_CLINIC_SEND_BUDGET is not JSON' };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { ok: false, error: 'WA_CLINIC_SEND_BUDGET must be a JSON object {"ratePerMinute":…,"burst":…}' };
  const budget = { ...defaults };
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const range = CLINIC_SEND_BUDGET_LIMITS[name as keyof typeof CLINIC_SEND_BUDGET_LIMITS];
    if (!range) return { ok: false, error: `WA_CLINIC_SEND_BUDGET: unknown field ${name}` };
    if (typeof value !== 'number' || !Number.isInteger(value) || value < range[0] || value > range[1])
      return {
        ok: false,
        error: `WA_CLINIC_SEND_BUDGET: ${name} must be an integer from ${range[0]} to ${range[1]}`,
      };
    budget[name as keyof typeof budget] = value;
  }
  return { ok: true, budget };
}
