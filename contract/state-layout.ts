/**
 * Where a channel's state lives in the object store (S3, or a folder in local mode). The
 * worker writes this layout and the operator erases it, so it is stated here once:
 *
 *   <prefix>/<clinic>/<channel>/datakey            the KMS-wrapped data key
 *   <prefix>/<clinic>/<channel>/lease              which worker may run the channel
 *   <prefix>/<clinic>/<channel>/journal/<seq>      one record per key transaction or creds save
 *   <prefix>/<clinic>/<channel>/snapshot/<seq>     the whole state as of journal slot <seq>
 *   <prefix>/<clinic>/<channel>/messages/<hash>    sent messages kept for retries
 *   <prefix>/<clinic>/<channel>/media/<hash>/      one attachment: part/<n> (sealed 1 MiB pieces),
 *                                                  manifest (written last: the completion marker),
 *                                                  pending (what a retry needs after a failed download)
 *   <prefix>/<clinic>/<channel>/contacts           the contacts the channel talked to (send pacing)
 *   <prefix>/<clinic>/<channel>/quarantine/<time>/ copies of a quarantined state, set aside
 *
 * Everything of a channel, quarantined copies included, is under its own prefix: the clinic's
 * (or the channel's) storage grant covers it, and erasing the prefix erases all of it. Only
 * ids name the clinic and channel levels; the names below a channel are the fixed ones above,
 * so no valid id (contract/tokens.ts) can reach another channel's objects or a quarantine.
 * The lease, the quarantined copies and media are not live state (`isLiveStateName`): media is
 * the clinic's data, not the session's, and is neither loaded nor set aside with it.
 *
 * docs/state-store.md explains what each object holds and why.
 */
import { createHash } from 'node:crypto';

export interface ChannelStateLocation {
  /** The configured prefix; leading and trailing slashes are ignored. */
  prefix: string;
  clinicId: string;
  channelId: string;
}

/** Object names relative to the channel's prefix. */
export const DATA_KEY_OBJECT = 'datakey';
export const LEASE_OBJECT = 'lease';
export const JOURNAL_DIR = 'journal';
export const SNAPSHOT_DIR = 'snapshot';
export const SENT_MESSAGES_DIR = 'messages';
/** The contacts the channel talked to, for the daily cap on first messages (sealed like the rest). */
export const KNOWN_CONTACTS_OBJECT = 'contacts';
export const QUARANTINE_DIR = 'quarantine';
export const MEDIA_DIR = 'media';
/** Days a stored attachment is kept by default (the worker's WA_MEDIA_RETENTION_DAYS). */
export const MEDIA_RETENTION_DAYS = 30;
/** The note written beside a quarantined copy, saying why it was taken. */
export const QUARANTINE_REASON_OBJECT = 'REASON';

/** Journal and snapshot sequence numbers are zero-padded, so names sort in sequence order. */
const SEQ_DIGITS = 12;

const trimSlashes = (prefix: string) => prefix.replace(/^\/+|\/+$/g, '');

/** `<prefix>/<clinic>/<channel>/`: every object of the channel, and nothing of another one. */
export function channelStatePrefix(location: ChannelStateLocation): string {
  return `${trimSlashes(location.prefix)}/${location.clinicId}/${location.channelId}/`;
}

/** `<prefix>/<clinic>/<channel>/quarantine/<time>/`: where a quarantined state is copied at `at`. */
export function quarantinePrefix(location: ChannelStateLocation, at: Date): string {
  return `${channelStatePrefix(location)}${QUARANTINE_DIR}/${at.toISOString()}/`;
}

/**
 * Whether a name relative to the channel's prefix is live state: the objects a worker loads,
 * copies into a quarantine and starts over without. Not the lease (which worker holds the
 * channel), and not a quarantined copy (set aside; a fresh start must not take it for state).
 */
export function isLiveStateName(name: string): boolean {
  return name !== LEASE_OBJECT && !name.startsWith(`${QUARANTINE_DIR}/`) && !name.startsWith(`${MEDIA_DIR}/`);
}

export function journalSlotName(seq: number): string {
  return `${JOURNAL_DIR}/${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

export function snapshotName(seq: number): string {
  return `${SNAPSHOT_DIR}/${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

/** A relative name that is a journal slot or a snapshot, with its sequence number; else undefined. */
export function parseSequencedName(
  name: string,
): { dir: typeof JOURNAL_DIR | typeof SNAPSHOT_DIR; seq: number } | undefined {
  const [dir, num, ...rest] = name.split('/');
  if ((dir !== JOURNAL_DIR && dir !== SNAPSHOT_DIR) || num === undefined || rest.length > 0) return undefined;
  const seq = Number(num);
  return Number.isSafeInteger(seq) ? { dir, seq } : undefined;
}

/** A sent message's object name. Message ids are hashed: they are not ours to shape into keys. */
export function sentMessageName(id: string): string {
  return `${SENT_MESSAGES_DIR}/${createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
}

/**
 * The folder of one stored attachment, `media/<hash>/`. `ref` names it within the channel: an
 * inbound message's media is `in:<message id>`, a backend's upload `up:<upload id>`; hashed, as
 * neither is ours to shape into keys.
 */
export function mediaFolderName(ref: string): string {
  return `${MEDIA_DIR}/${createHash('sha256').update(ref).digest('hex').slice(0, 40)}/`;
}
