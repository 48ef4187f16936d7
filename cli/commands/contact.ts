/**
 * `wa contact export` and `wa contact erase`: a data-subject request (LGPD/GDPR) for one contact
 * of a clinic, run by a platform engineer with platform credentials. Both are on the audit trail
 * (`contact.exported`, `contact.erased`, one event per channel searched), named by the request's
 * reference and never by the contact's number: the trail is kept for a long time and cannot be
 * erased, so it must hold nothing about the person.
 */
import { writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { NatsConnection } from 'nats';
import pino from 'pino';
import { AuditNotStoredError, AuditTrail, auditSubject, classifyNatsError } from '../../contract/index.ts';
import { CliError } from '../connection.ts';
import { channelStatePrefix } from '../../contract/state-layout.ts';
import { countByChannel, eraseEvents, scanContact, type ContactScan } from './contact-data.ts';
import { SentRecords, sentRecordKeys, type StateBucket } from './sent-records.ts';

export interface ContactRequest {
  clinicId: string;
  channelId?: string;
  /** The contact's numbers or JIDs, as given. */
  contact: string[];
  /** The request's reference (ticket), recorded on the audit trail. */
  request: string;
  /** Where the workers keep their state: with it, the sent-message records are covered too. */
  state?: StateBucket;
}

/** Who ran the command, as the audit trail names them. */
export function cliActor(): string {
  return `cli/${process.env.WA_ACTOR ?? userInfo().username}`.slice(0, 256);
}

async function scan(nc: NatsConnection, req: ContactRequest): Promise<ContactScan> {
  try {
    return await scanContact(nc, req.clinicId, req.contact, req.channelId);
  } catch (err) {
    if (err instanceof Error && /not a contact|neither an E\.164/.test(err.message))
      throw new CliError(err.message, 2);
    if (err instanceof Error && /stream not found/i.test(err.message))
      throw new CliError(`clinic ${req.clinicId} has no stream: nothing is stored for it`);
    throw err;
  }
}

/** One audit event per channel searched; fails the command if the trail did not store one. */
async function audit(
  nc: NatsConnection,
  action: 'contact.exported' | 'contact.erased',
  req: ContactRequest,
  perChannel: Map<string, number>,
  outcome: string,
  sentKeys?: string[],
): Promise<void> {
  const trail = new AuditTrail('cli', () => nc, pino({ level: 'warn' }, pino.destination(2)));
  try {
    for (const [channelId, events] of perChannel)
      await trail.recordStored({
        clinicId: req.clinicId,
        channelId,
        action,
        actor: cliActor(),
        outcome,
        details: {
          request: req.request,
          events,
          ...(sentKeys && req.state ? { sentRecords: sentKeysOf(sentKeys, req, channelId).length } : {}),
        },
      });
  } catch (err) {
    if (err instanceof AuditNotStoredError)
      throw new CliError(`${err.message}: the request was carried out but is not on the audit trail`);
    throw err;
  }
}

/** The records among `keys` that belong to one channel. */
function sentKeysOf(keys: string[], req: ContactRequest, channelId: string): string[] {
  const prefix = channelStatePrefix({ prefix: req.state!.prefix, clinicId: req.clinicId, channelId });
  return keys.filter((k) => k.startsWith(prefix));
}

/** Runs `fn` with an S3 client for the request's state bucket, if it names one. */
async function withSentRecords<T>(
  req: ContactRequest,
  fn: (r: SentRecords) => Promise<T>,
): Promise<T | undefined> {
  if (!req.state) return undefined;
  const records = new SentRecords(req.state);
  try {
    return await fn(records);
  } finally {
    records.destroy();
  }
}

/**
 * Refuses before anything is exported or erased when no stream would store the audit events:
 * a request carried out off the record cannot be undone (an erasure) or taken back (a file).
 */
async function assertAudited(
  nc: NatsConnection,
  req: ContactRequest,
  channels: Iterable<string>,
): Promise<void> {
  const jsm = await nc.jetstreamManager();
  for (const channelId of channels) {
    const subject = auditSubject(req.clinicId, channelId);
    await jsm.streams.find(subject).catch((err: unknown) => {
      if (classifyNatsError(err) === 'not-found' || /no stream matches/i.test((err as Error).message))
        throw new CliError(`no audit stream stores ${subject}: nothing was exported or erased`);
      throw err;
    });
  }
}

function channelsSearched(req: ContactRequest, found: ContactScan): Map<string, number> {
  const counts = countByChannel(found);
  if (req.channelId && !counts.has(req.channelId)) counts.set(req.channelId, 0);
  if (counts.size === 0)
    throw new CliError(`clinic ${req.clinicId} has no stored messages: nothing to export or erase`);
  return counts;
}

/** Writes the contact's events to `out` (a new file, readable by its owner only). */
export async function exportContact(
  nc: NatsConnection,
  req: ContactRequest,
  out: string,
): Promise<{ file: string; events: number; jids: string[]; sentRecords?: number }> {
  const found = await scan(nc, req);
  const perChannel = channelsSearched(req, found);
  await assertAudited(nc, req, perChannel.keys());
  const sentKeys = await withSentRecords(req, (r) => r.present(sentRecordKeys(found, req.clinicId, r.state)));
  const document = {
    clinicId: req.clinicId,
    ...(req.channelId ? { channelId: req.channelId } : {}),
    request: req.request,
    contact: found.jids,
    exportedAt: new Date().toISOString(),
    stream: found.stream,
    events: found.events,
    // Encrypted with the channel's data key: listed, not decrypted (cli/commands/sent-records.ts).
    ...(sentKeys ? { sentRecords: sentKeys.map((key) => ({ bucket: req.state!.bucket, key })) } : {}),
  };
  try {
    await writeFile(out, JSON.stringify(document, null, 2) + '\n', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new CliError(`${out} exists: an export is never written over another file`);
    throw err;
  }
  await audit(nc, 'contact.exported', req, perChannel, 'ok', sentKeys);
  return {
    file: out,
    events: found.events.length,
    jids: found.jids,
    ...(sentKeys ? { sentRecords: sentKeys.length } : {}),
  };
}

/** Deletes the contact's events, checks that none is left, and records the erasure. */
export async function eraseContact(
  nc: NatsConnection,
  req: ContactRequest,
): Promise<{ erased: number; left: number; jids: string[]; sentRecords?: number }> {
  const found = await scan(nc, req);
  const perChannel = channelsSearched(req, found);
  await assertAudited(nc, req, perChannel.keys());
  // The records first: their ids are known only from the events about to be erased.
  const sentKeys = req.state ? sentRecordKeys(found, req.clinicId, req.state) : undefined;
  const sentErased = await withSentRecords(req, async (r) => {
    const n = await r.erase(sentKeys!);
    if ((await r.present(sentKeys!)).length > 0) throw new CliError('sent-message records are still stored');
    return n;
  });
  const erased = await eraseEvents(nc, found);
  // Read back: a message stored with an old sequence between the scan and the deletes (a
  // redelivered publish) would otherwise be missed silently.
  const left = (await scan(nc, req)).events.length;
  await audit(nc, 'contact.erased', req, perChannel, left === 0 ? 'ok' : 'EventsLeft', sentKeys);
  if (left > 0) throw new CliError(`${left} events of the contact are still stored; run the erase again`);
  return { erased, left, jids: found.jids, ...(sentErased !== undefined ? { sentRecords: sentErased } : {}) };
}
