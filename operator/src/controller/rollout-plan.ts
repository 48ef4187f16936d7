/**
 * The rollout of a worker change, as pure decisions (docs/operations.md, "Rolling out a worker
 * change"): may this channel's worker be replaced now, has a replaced channel come back, and
 * is the rollout halted. rollout-gate.ts applies them to the channel cache and writes the marks.
 *
 * A rollout has no object of its own: each channel's mark (rollout-marks.ts) says where it is
 * in the rollout of a revision (`replacing`, `done`, `failed`, `resumed`), and the rollout's state
 * is counted from those marks. So it survives an operator restart or a leader change, and a person
 * changes it with `kubectl label`.
 */
import type { Phase } from '../../../contract/index.ts';

/** "5" (channels) or "10%" (of the channels counted), as a Deployment's maxUnavailable. */
export type Share = { count: number } | { percent: number };

export const SHARE = /^(\d{1,6})(%?)$/;

export function parseShare(raw: string): Share | undefined {
  const m = SHARE.exec(raw.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  if (m[2]) return n <= 100 ? { percent: n } : undefined;
  return { count: n };
}

/** A share of `total`, rounded down, never below `minimum`. */
export function shareOf(share: Share, total: number, minimum: number): number {
  const n = 'count' in share ? share.count : Math.floor((share.percent * total) / 100);
  return Math.max(minimum, n);
}

export function formatShare(share: Share): string {
  return 'count' in share ? String(share.count) : `${share.percent}%`;
}

export interface RolloutPolicy {
  /** Channels being replaced (or failed in this rollout) at once, of all channels. */
  maxUnavailable: Share;
  /** The same within one clinic, of that clinic's channels; always at least one. */
  maxUnavailablePerClinic: Share;
  /** Clinics with their own share (clinicId → share of its channels), instead of the one above. */
  clinicMaxUnavailable: Record<string, Share>;
  /** The first batch: this many channels must come back before any other is replaced (0 = none). */
  canary: number;
  /** Failed channels of this rollout tolerated (of all channels); one more halts it. */
  maxFailed: Share;
  /** How long a replaced channel has to come back. */
  healthTimeoutMs: number;
}

export type MarkState = 'replacing' | 'done' | 'failed' | 'resumed';

/** A channel as the plan sees it: its clinic and its mark in a rollout, if any. */
export interface FleetChannel {
  key: string;
  clinicId: string;
  mark?: { state: MarkState; revision: string } | undefined;
}

export interface RolloutCounts {
  /** Every channel (the base of the fleet's percentages). */
  total: number;
  /** Being replaced now (any revision: they are offline either way). */
  replacing: number;
  /** Came back in this revision's rollout. */
  done: number;
  /** Did not come back in this revision's rollout, and nobody resumed past them. */
  failed: number;
  /** Failed, then resumed by a person: they count as done. */
  resumed: number;
}

export function countMarks(fleet: Iterable<FleetChannel>, revision: string): RolloutCounts {
  const counts: RolloutCounts = { total: 0, replacing: 0, done: 0, failed: 0, resumed: 0 };
  for (const c of fleet) {
    counts.total++;
    const mark = c.mark;
    if (!mark) continue;
    if (mark.state === 'replacing') counts.replacing++;
    else if (mark.revision === revision) counts[mark.state]++;
  }
  return counts;
}

/** More channels failed in this revision's rollout than the policy tolerates. */
export function isHalted(counts: RolloutCounts, policy: RolloutPolicy): boolean {
  return counts.failed > shareOf(policy.maxFailed, counts.total, 0);
}

export type Admission =
  | { admit: true; canary: boolean }
  | { admit: false; why: 'halted' | 'canary' | 'fleet-limit' | 'clinic-limit'; message: string };

/**
 * May `candidate` (a channel whose worker runs an older revision) be replaced now? Unavailable =
 * being replaced + failed in this rollout; the fleet's and the clinic's limits count those.
 */
export function admission(
  fleet: readonly FleetChannel[],
  candidate: { key: string; clinicId: string },
  policy: RolloutPolicy,
  revision: string,
): Admission {
  const counts = countMarks(fleet, revision);
  if (isHalted(counts, policy))
    return {
      admit: false,
      why: 'halted',
      message: `the rollout of worker revision ${revision} is halted: ${counts.failed} channel(s) failed`,
    };
  const started = counts.replacing + counts.done + counts.failed + counts.resumed;
  const canaryOpen = policy.canary > 0 && counts.done + counts.resumed < policy.canary;
  if (canaryOpen && started >= policy.canary)
    return {
      admit: false,
      why: 'canary',
      message: `waiting for the canary batch (${counts.done + counts.resumed} of ${policy.canary} back)`,
    };
  const unavailable = counts.replacing + counts.failed;
  const fleetLimit = shareOf(policy.maxUnavailable, counts.total, 1);
  if (unavailable >= fleetLimit)
    return {
      admit: false,
      why: 'fleet-limit',
      message: `${unavailable} channel(s) unavailable, the limit is ${fleetLimit}`,
    };
  const clinic = fleet.filter((c) => c.clinicId === candidate.clinicId && c.key !== candidate.key);
  const clinicCounts = countMarks(clinic, revision);
  const clinicShare = policy.clinicMaxUnavailable[candidate.clinicId] ?? policy.maxUnavailablePerClinic;
  const clinicLimit = shareOf(clinicShare, clinicCounts.total + 1, 1);
  const clinicUnavailable = clinicCounts.replacing + clinicCounts.failed;
  if (clinicUnavailable >= clinicLimit)
    return {
      admit: false,
      why: 'clinic-limit',
      message: `${clinicUnavailable} channel(s) of clinic ${candidate.clinicId} unavailable, its limit is ${clinicLimit}`,
    };
  return { admit: true, canary: canaryOpen };
}

/**
 * Does the rollout hold this channel's replacement? Only for a session that is serving or
 * reconnecting: a suspended channel has no worker, and one that never connected (waiting for a
 * QR code or pairing), or that was failing already, is replaced at once and never holds a
 * rollout back.
 */
export function takesPart(channel: {
  suspend?: boolean | undefined;
  phase?: Phase | undefined;
  account?: string | undefined;
}): boolean {
  if (channel.suspend || !channel.account) return false;
  return channel.phase === 'Connected' || channel.phase === 'Connecting' || channel.phase === 'Disconnected';
}

export type Verdict =
  { outcome: 'waiting'; dueInMs: number } | { outcome: 'back' } | { outcome: 'failed'; reason: string };

/**
 * Has a replaced channel come back? Back: its new worker runs and the channel is Connected (or
 * Disconnected again, if it was so before). Failed: the new worker cannot run (crash loop, bad
 * image…), the channel is in Error (e.g. ClientVersionRejected), or the time limit passed
 * (e.g. stuck Connecting).
 */
export function verdict(input: {
  /** When the replacement was decided, and the phase the channel had then. */
  since: number;
  from: Phase | undefined;
  now: number;
  timeoutMs: number;
  /** The channel's new worker (running the desired spec), if it exists yet. */
  worker: { activity: string; reason?: string | undefined; message?: string | undefined } | undefined;
  phase: Phase | undefined;
  /** The Ready condition's reason, for the failure's explanation. */
  reason?: string | undefined;
}): Verdict {
  const { worker, phase } = input;
  if (worker?.activity === 'failing' || worker?.activity === 'ended')
    return {
      outcome: 'failed',
      reason: `${worker.reason ?? 'WorkerFailing'}: ${worker.message ?? 'the new worker does not run'}`,
    };
  if (worker?.activity === 'running') {
    if (phase === 'Connected' || (input.from === 'Disconnected' && phase === 'Disconnected'))
      return { outcome: 'back' };
    if (phase === 'Error')
      return { outcome: 'failed', reason: `${input.reason ?? 'Error'}: the channel is in Error` };
  }
  const dueInMs = input.since + input.timeoutMs - input.now;
  if (dueInMs <= 0)
    return {
      outcome: 'failed',
      reason: `HealthTimeout: not back within ${Math.round(input.timeoutMs / 1000)}s (phase ${phase ?? 'Pending'})`,
    };
  return { outcome: 'waiting', dueInMs };
}
