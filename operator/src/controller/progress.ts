/**
 * The reconciler's progress that must survive a restart or a leader change, kept on the
 * channel itself as annotations (in local mode: in status.json with the rest of the channel).
 * A new leader reads them from its cache and carries on where the old one stopped, instead
 * of logging out twice or announcing a replaced pod as "missing".
 */
import type { WhatsAppChannel } from '../../../contract/index.ts';

export const PROGRESS_ANNOTATIONS = {
  /** The Logout step of a deletion: `done`, `skipped` (no worker to ask) or `abandoned`. */
  logout: 'progress.whatsapp.clinic.dev/logout',
  /** The erase step of a deletion: `done` (the finalizer is released next). */
  erase: 'progress.whatsapp.clinic.dev/erase',
  /** The worker is being replaced after a spec change: the spec hash it was running. */
  replacing: 'progress.whatsapp.clinic.dev/replacing',
} as const;

export type StepOutcome = 'done' | 'skipped' | 'abandoned';

export function progressOf(channel: WhatsAppChannel): {
  logout: StepOutcome | undefined;
  erase: StepOutcome | undefined;
  replacing: string | undefined;
} {
  const a = channel.metadata.annotations ?? {};
  const step = (v: string | undefined) =>
    v === 'done' || v === 'skipped' || v === 'abandoned' ? v : undefined;
  return {
    logout: step(a[PROGRESS_ANNOTATIONS.logout]),
    erase: step(a[PROGRESS_ANNOTATIONS.erase]),
    replacing: a[PROGRESS_ANNOTATIONS.replacing],
  };
}
