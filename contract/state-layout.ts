/**
 * Where a channel's state lives in the object store (S3, or a folder in local mode). The
 * worker writes this layout and the operator erases it, so it is stated here once:
 *
 *   <prefix>/<clinic>/<channel>/datakey            the KMS-wrapped data key
 *   <prefix>/<clinic>/<channel>/lease              which worker may run the channel
 *   <prefix>/<clinic>/<channel>/journal/<seq>      one record per key transaction or creds save
 *   <prefix>/<clinic>/<channel>/snapshot/<seq>     the whole state as of journal slot <seq>
 *   <prefix>/<clinic>/<channel>/messages/<hash>    sent messages kept for retries
 *   <prefix>/quarantine/<clinic>/<channel>/<time>/ copies of a quarantined state
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
/** The note written beside a quarantined copy, saying why it was taken. */
export const QUARANTINE_REASON_OBJECT = 'REASON';

/** Journal and snapshot sequence numbers are zero-padded, so names sort in sequence order. */
const SEQ_DIGITS = 12;

const trimSlashes = (prefix: string) => prefix.replace(/^\/+|\/+$/g, '');

/** `<prefix>/<clinic>/<channel>/`: every object of the channel, and nothing of another one. */
export function channelStatePrefix(location: ChannelStateLocation): string {
  return `${trimSlashes(location.prefix)}/${location.clinicId}/${location.channelId}/`;
}

/** `<prefix>/quarantine/<clinic>/<channel>/<time>/`: where a quarantined state is copied at `at`. */
export function quarantinePrefix(location: ChannelStateLocation, at: Date): string {
  return `${trimSlashes(location.prefix)}/quarantine/${location.clinicId}/${location.channelId}/${at.toISOString()}/`;
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
