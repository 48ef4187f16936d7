/**
 * A channel's place in a rollout, kept on the channel (like progress.ts) so that it survives a
 * restart or a leader change, and so that a person sees it and changes it with kubectl:
 *
 * - the label `whatsapp.clinic.dev/rollout`: `replacing`, `done`, `failed` or `resumed`
 *   (`kubectl get wac -A -L whatsapp.clinic.dev/rollout`; a person resumes a halted rollout by
 *   relabelling `failed` channels `resumed`);
 * - the annotation `whatsapp.clinic.dev/rollout`: JSON with the revision, when the replacement
 *   was decided, the phase the channel had then, and why it failed.
 */
import { PHASES, type Phase, type WhatsAppChannel } from '../../../contract/index.ts';
import type { MarkState } from './rollout-plan.ts';

export const ROLLOUT_LABEL = 'whatsapp.clinic.dev/rollout';
export const ROLLOUT_ANNOTATION = 'whatsapp.clinic.dev/rollout';

const STATES: readonly MarkState[] = ['replacing', 'done', 'failed', 'resumed'];

export interface RolloutMark {
  state: MarkState;
  revision: string;
  /** When the replacement was decided (ms since the epoch). */
  since: number;
  /** The channel's phase then: the phase it must come back to. */
  from: Phase | undefined;
  /** Why it failed. */
  reason?: string | undefined;
}

export function markOf(channel: WhatsAppChannel): RolloutMark | undefined {
  const state = channel.metadata.labels?.[ROLLOUT_LABEL] as MarkState | undefined;
  if (!state || !STATES.includes(state)) return undefined;
  let detail: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(channel.metadata.annotations?.[ROLLOUT_ANNOTATION] ?? '{}');
    if (typeof parsed === 'object' && parsed !== null) detail = parsed as Record<string, unknown>;
  } catch {
    // A mark a person broke: the state alone still counts.
  }
  const from = PHASES.find((p) => p === detail.from);
  return {
    state,
    revision: typeof detail.revision === 'string' ? detail.revision : '',
    since: typeof detail.since === 'string' ? Date.parse(detail.since) || 0 : 0,
    from,
    reason: typeof detail.reason === 'string' ? detail.reason : undefined,
  };
}

/** The label and annotation that record `mark` (null removes both). */
export function markPatch(mark: RolloutMark | null): {
  labels: Record<string, string | null>;
  annotations: Record<string, string | null>;
} {
  if (!mark) return { labels: { [ROLLOUT_LABEL]: null }, annotations: { [ROLLOUT_ANNOTATION]: null } };
  const detail = {
    revision: mark.revision,
    since: new Date(mark.since).toISOString(),
    ...(mark.from ? { from: mark.from } : {}),
    ...(mark.reason ? { reason: mark.reason } : {}),
  };
  return {
    labels: { [ROLLOUT_LABEL]: mark.state },
    annotations: { [ROLLOUT_ANNOTATION]: JSON.stringify(detail) },
  };
}
