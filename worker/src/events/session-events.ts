/**
 * The listeners the worker puts on each Baileys socket (and takes off again when it closes):
 * creds persistence, the inbound gate's view of message nodes, message updates and receipts,
 * server acks for the deaf detector, and decrypt-failure metrics.
 */
import { proto, type BaileysEventMap, type BinaryNode } from '@whiskeysockets/baileys';
import type { Logger } from 'pino';
import type { Metrics } from '../ops/metrics.ts';
import type { InboundGate } from '../session/inbound-gate.ts';
import type { SessionSocket } from '../session/ports.ts';
import { foldedReceipts, foldedStatusUpdates, messageUpdateEvents, receiptEvents } from './payloads.ts';
import type { EventSink } from './sink.ts';

export interface SessionEventDeps {
  ids: { clinicId: string; channelId: string };
  gate: InboundGate;
  sink: Pick<EventSink, 'publishUngated' | 'publishUpdates'>;
  /** Persists the whole creds object (Baileys has already merged the update into it). */
  saveCreds: () => Promise<void>;
  onStoreFailure: (err: unknown) => void;
  onServerAck: (messageId: string) => void;
  /** A contact wrote to the channel (it is no longer a new contact for the send pacing). */
  onInboundFrom?: ((jid: string) => void) | undefined;
  /** The server refused a message we sent with this ack error code (pacing reads 429 and 463). */
  onSendRefused?: ((code: string) => void) | undefined;
  metrics: Metrics;
  logger: Logger;
}

const DECRYPT_ERRORS: [RegExp, string][] = [
  [/bad mac/i, 'bad-mac'],
  [/no session/i, 'no-session'],
  [/no matching sessions/i, 'no-session'],
  [/invalid prekey/i, 'invalid-prekey'],
  [/key used already|counter/i, 'counter'],
  [/message absent/i, 'absent'],
];

export function decryptErrorLabel(text: string | null | undefined): string {
  for (const [re, label] of DECRYPT_ERRORS) if (text && re.test(text)) return label;
  return 'other';
}

export function attachSessionEvents(socket: SessionSocket, deps: SessionEventDeps): () => void {
  const onCreds = () => {
    deps.saveCreds().catch((err: unknown) => deps.onStoreFailure(err));
  };
  const onMessageNode = (node: BinaryNode) => deps.gate.observe(node);
  const onAck = (node: BinaryNode) => {
    if (node.attrs.id) deps.onServerAck(node.attrs.id);
  };
  const onUpsert = ({ messages }: BaileysEventMap['messages.upsert']) => {
    for (const m of messages) {
      if (m.messageStubType === proto.WebMessageInfo.StubType.CIPHERTEXT) {
        deps.metrics.decryptFailures.inc({ error: decryptErrorLabel(m.messageStubParameters?.[0]) });
        continue;
      }
      // Messages sent by this worker come back as upserts too; they are not inbound, but may
      // carry receipts that Baileys' event buffer folded into them (foldedStatusUpdates).
      if (m.key.fromMe) {
        const folded = foldedStatusUpdates(m);
        if (folded.length > 0) deps.sink.publishUpdates(messageUpdateEvents(deps.ids, folded, Date.now()));
        const receipts = foldedReceipts(m);
        if (receipts.length > 0) deps.sink.publishUpdates(receiptEvents(deps.ids, receipts));
        continue;
      }
      if (!m.key.id) continue;
      // One-to-one chats only: a group member is not a contact the number talked to.
      for (const jid of [m.key.remoteJid, m.key.remoteJidAlt])
        if (jid && (jid.endsWith('@s.whatsapp.net') || jid.endsWith('@lid'))) deps.onInboundFrom?.(jid);
      if (deps.gate.wasDelivered(m.key.id)) continue;
      // Not seen by the gate (no <enc> child, e.g. a placeholder resend): Baileys already
      // acknowledged it, so publish now; the outbox still retries until JetStream has it.
      deps.sink.publishUngated(m);
    }
  };
  const onUpdate = (updates: BaileysEventMap['messages.update']) => {
    for (const u of updates) {
      if (u.key.fromMe && u.key.id && typeof u.update.status === 'number') deps.onServerAck(u.key.id);
      const code = u.update.messageStubParameters?.[0];
      if (u.key.fromMe && u.update.status === proto.WebMessageInfo.Status.ERROR && typeof code === 'string')
        deps.onSendRefused?.(code);
    }
    deps.sink.publishUpdates(messageUpdateEvents(deps.ids, updates, Date.now()));
  };
  const onReceipt = (receipts: BaileysEventMap['message-receipt.update']) => {
    deps.sink.publishUpdates(receiptEvents(deps.ids, receipts));
  };

  socket.ev.on('creds.update', onCreds);
  socket.ev.on('messages.upsert', onUpsert);
  socket.ev.on('messages.update', onUpdate);
  socket.ev.on('message-receipt.update', onReceipt);
  socket.ws.on('CB:message', onMessageNode);
  socket.ws.on('CB:ack,class:message', onAck);
  return () => {
    socket.ev.off('creds.update', onCreds);
    socket.ev.off('messages.upsert', onUpsert);
    socket.ev.off('messages.update', onUpdate);
    socket.ev.off('message-receipt.update', onReceipt);
    socket.ws.off('CB:message', onMessageNode);
    socket.ws.off('CB:ack,class:message', onAck);
  };
}
