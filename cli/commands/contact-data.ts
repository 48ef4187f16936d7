/**
 * Data-subject requests on a clinic's stored events (`wa contact export` / `wa contact erase`,
 * docs/operations.md): find one contact's events in the clinic's stream `WA_<CLINIC>`, write
 * them to a file, or delete them one by one.
 *
 * Why message by message (docs/contract.md, "Erasing one contact"): subjects do not name the
 * contact, so no purge by subject can take exactly its events; JetStream deletes single messages
 * by sequence without rewriting the stream (the message's bytes are overwritten: `erase`), and
 * the clinic's backend consumer and every other contact's events are untouched.
 */
import { randomUUID } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type NatsConnection } from 'nats';
import { channelSubjects, clinicStream, SUBJECT_ROOT } from '../../contract/index.ts';
import { ContactJids, type ContactFields } from './contact-match.ts';

/** One stored event of the contact, as it is exported. */
export interface ContactEvent {
  seq: number;
  subject: string;
  /** When JetStream stored it. */
  storedAt: string;
  event: Record<string, unknown>;
}

export interface ContactScan {
  stream: string;
  /** Every JID the contact was found under (its number and LID). */
  jids: string[];
  /** Channels of the clinic whose messages were searched. */
  channels: string[];
  events: ContactEvent[];
}

/** The messages fetched per pull: bounded memory per round trip, whatever the stream's size. */
const BATCH = 1_000;

/** The message subjects (msg.in, msg.update) of one channel or of every channel of the clinic. */
function messageSubjects(clinicId: string, channelId?: string): string[] {
  if (channelId) {
    const s = channelSubjects(clinicId, channelId);
    return [s.msgIn, s.msgUpdate];
  }
  return [`${SUBJECT_ROOT}.${clinicId}.*.msg.in`, `${SUBJECT_ROOT}.${clinicId}.*.msg.update`];
}

/**
 * Every message event of the clinic (or channel) stored when the scan starts, in stream order,
 * through a consumer of its own that acknowledges nothing and is gone when the scan is.
 */
async function* storedMessages(
  nc: NatsConnection,
  clinicId: string,
  channelId?: string,
): AsyncGenerator<{ seq: number; subject: string; storedAt: string; event: Record<string, unknown> }> {
  const jsm = await nc.jetstreamManager();
  const stream = clinicStream(clinicId).name;
  const name = `dsr-${randomUUID().slice(0, 8)}`;
  await jsm.consumers.add(stream, {
    name,
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.All,
    filter_subjects: messageSubjects(clinicId, channelId),
    inactive_threshold: 60 * 1e9,
  });
  try {
    const consumer = await nc.jetstream().consumers.get(stream, name);
    let left = (await consumer.info()).num_pending;
    while (left > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(BATCH, left), expires: 10_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        left--;
        yield {
          seq: m.seq,
          subject: m.subject,
          storedAt: new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString(),
          event: m.json<Record<string, unknown>>(),
        };
        if (left === 0) break;
      }
      if (got === 0) throw new Error(`the scan of ${stream} stopped with ${left} messages unread`);
    }
  } finally {
    await jsm.consumers.delete(stream, name).catch(() => undefined);
  }
}

/**
 * Finds the contact's events: one pass learns its JIDs from inbound messages, a second takes
 * every event that names one of them (a receipt may name only the LID it was first seen under).
 */
export async function scanContact(
  nc: NatsConnection,
  clinicId: string,
  contact: string[],
  channelId?: string,
): Promise<ContactScan> {
  const jids = new ContactJids(contact);
  const channels = new Set<string>();
  for await (const m of storedMessages(nc, clinicId, channelId)) {
    channels.add(m.subject.split('.')[2]!);
    if (m.subject.endsWith('.msg.in')) jids.learn(m.event as ContactFields);
  }
  const events: ContactEvent[] = [];
  for await (const m of storedMessages(nc, clinicId, channelId)) {
    if (jids.matches(m.event as ContactFields)) events.push(m);
  }
  return { stream: clinicStream(clinicId).name, jids: jids.all, channels: [...channels].sort(), events };
}

/**
 * Deletes each event, overwriting its bytes in the store (`erase`). A message already gone
 * (expired, or deleted by an earlier run that was interrupted) counts as erased.
 */
export async function eraseEvents(nc: NatsConnection, scan: ContactScan): Promise<number> {
  const jsm = await nc.jetstreamManager();
  let erased = 0;
  for (const e of scan.events) {
    const done = await jsm.streams.deleteMessage(scan.stream, e.seq, true).catch((err: unknown) => {
      if (/no message found|not found/i.test((err as Error).message)) return true;
      throw err;
    });
    if (done) erased++;
  }
  return erased;
}

/** Events per channel, for the audit trail (one event per channel searched). */
export function countByChannel(scan: ContactScan): Map<string, number> {
  const counts = new Map(scan.channels.map((c) => [c, 0]));
  for (const e of scan.events) {
    const channel = e.subject.split('.')[2]!;
    counts.set(channel, (counts.get(channel) ?? 0) + 1);
  }
  return counts;
}
