/**
 * Who may run a channel's identity (docs/security.md K1-K3), as pure functions of what the
 * operator sees, so that the reconciler, the deletion and the tests agree:
 *
 * - the clinic rule: in a cluster, a channel runs only in a namespace labelled with its clinic
 *   (`whatsapp.clinic.dev/clinic`), the same rule the admission policy enforces; a namespace
 *   relabelled to another clinic stops its channels instead of handing them over;
 * - the duplicate rule: one clinicId/channelId is one WhatsApp session, so among the channels
 *   that claim it (and pass the clinic rule) only the oldest runs a worker: the earliest
 *   creationTimestamp, then the smallest uid (both fixed for a channel's life, so every
 *   operator replica picks the same owner, and the next in line takes over when it goes).
 */
import type { WhatsAppChannel } from '../../../contract/index.ts';

/** The namespace label that says which clinic a namespace belongs to. */
export const CLINIC_NAMESPACE_LABEL = 'whatsapp.clinic.dev/clinic';

export const IDENTITY_REASONS = {
  clinicNamespaceMismatch: 'ClinicNamespaceMismatch',
  duplicateChannel: 'DuplicateChannel',
} as const;

/** Why a channel may not run its identity: Ready's reason and a message that says what to do. */
export interface IdentityBlock {
  reason: (typeof IDENTITY_REASONS)[keyof typeof IDENTITY_REASONS];
  message: string;
}

/** The namespace's clinic label: a string, `undefined` (no label). */
export type ClinicOfNamespace = (namespace: string) => string | undefined;

const keyOf = (c: WhatsAppChannel) => `${c.metadata.namespace}/${c.metadata.name}`;

/** The clinic rule; `clinicOf` absent = the rule does not apply (local mode, or switched off). */
export function clinicNamespaceBlock(
  channel: WhatsAppChannel,
  clinicOf: ClinicOfNamespace | undefined,
): IdentityBlock | undefined {
  if (!clinicOf) return undefined;
  const ns = channel.metadata.namespace ?? '';
  const label = clinicOf(ns);
  const { clinicId } = channel.spec;
  if (label === clinicId) return undefined;
  const found = label === undefined ? 'has no label' : `is labelled for clinic "${label}"`;
  return {
    reason: IDENTITY_REASONS.clinicNamespaceMismatch,
    message:
      `namespace ${ns} ${found} (${CLINIC_NAMESPACE_LABEL}), but spec.clinicId is "${clinicId}": ` +
      `no worker runs and the clinic's stored state is kept. Label the namespace ` +
      `${CLINIC_NAMESPACE_LABEL}=${clinicId} if it belongs to that clinic, or delete this channel ` +
      `(its deletion never logs out or erases the clinic's session)`,
  };
}

/** A list answers timestamps as Dates, a watch as strings. */
const timeOf = (c: WhatsAppChannel) =>
  new Date((c.metadata.creationTimestamp as string | Date | undefined) ?? 0).getTime() || 0;

/** Older claims first: creationTimestamp, then uid. */
export function compareClaims(a: WhatsAppChannel, b: WhatsAppChannel): number {
  const at = timeOf(a);
  const bt = timeOf(b);
  if (at !== bt) return at - bt;
  const au = a.metadata.uid ?? '';
  const bu = b.metadata.uid ?? '';
  return au < bu ? -1 : au > bu ? 1 : 0;
}

/**
 * The channel that owns an identity among its claims (every channel with that
 * clinicId/channelId, deleting ones included: an owner being deleted keeps the identity until
 * it is gone, so its Logout runs before anyone else can start). Claims that break the clinic
 * rule are not counted: a channel of a foreign namespace must not block the clinic's own.
 */
export function ownerOf(
  claims: WhatsAppChannel[],
  clinicOf: ClinicOfNamespace | undefined,
): WhatsAppChannel | undefined {
  return claims.filter((c) => !clinicNamespaceBlock(c, clinicOf)).sort(compareClaims)[0];
}

/** Both rules: undefined when the channel may run its worker. */
export function identityBlock(
  channel: WhatsAppChannel,
  claims: WhatsAppChannel[],
  clinicOf: ClinicOfNamespace | undefined,
): IdentityBlock | undefined {
  const mismatch = clinicNamespaceBlock(channel, clinicOf);
  if (mismatch) return mismatch;
  const all = claims.some((c) => c.metadata.uid === channel.metadata.uid) ? claims : [...claims, channel];
  const owner = ownerOf(all, clinicOf);
  if (!owner || owner.metadata.uid === channel.metadata.uid) return undefined;
  const { clinicId, channelId } = channel.spec;
  return {
    reason: IDENTITY_REASONS.duplicateChannel,
    message:
      `channel ${clinicId}/${channelId} is already run by ${keyOf(owner)} (the older claim): ` +
      `one channel identity has one worker. Delete this duplicate (that never logs out or erases ` +
      `the owner's session) or give it another spec.channelId; when ${keyOf(owner)} is gone, ` +
      `the next claim in line (oldest first) takes over`,
  };
}
