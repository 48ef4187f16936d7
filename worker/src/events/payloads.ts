/**
 * Turns Baileys objects into the JSON events the worker publishes, and decides which inbound
 * messages a clinic backend gets at all: user content yes; Signal/app-state plumbing (key
 * shares, history-sync notifications, peer data operations) never — those carry key material.
 */
import {
  getContentType,
  normalizeMessageContent,
  proto,
  type MessageUserReceiptUpdate,
  type WAMessage,
  type WAMessageUpdate,
} from '@whiskeysockets/baileys';
import {
  PAYLOAD_VERSION,
  type InboundMessageEvent,
  type MessageUpdateEvent,
  type PairingEvent,
  type StatusEvent,
} from '../../../contract/index.ts';
import type { PairingPayload, StatusReport } from '../session/ports.ts';
import { typedFields } from './message-kinds.ts';

export {
  PAYLOAD_VERSION,
  type InboundMessageEvent,
  type MessageUpdateEvent,
  type PairingEvent,
  type StatusEvent,
};

const PUBLISHED_PROTOCOL_TYPES = new Set<number>([
  proto.Message.ProtocolMessage.Type.REVOKE,
  proto.Message.ProtocolMessage.Type.MESSAGE_EDIT,
  proto.Message.ProtocolMessage.Type.EPHEMERAL_SETTING,
]);

/** Content types that are only transport plumbing. */
const PLUMBING = new Set<string>(['senderKeyDistributionMessage', 'messageContextInfo']);

/** Whether an inbound message is something a clinic backend should see. */
export function isPublishable(message: WAMessage): boolean {
  if (message.messageStubType) return false; // undecryptable stubs, group notices handled elsewhere
  const content = normalizeMessageContent(message.message);
  const type = contentTypeOf(content);
  if (!type || PLUMBING.has(type)) return false;
  if (type === 'protocolMessage') {
    const kind = content?.protocolMessage?.type;
    return kind !== undefined && kind !== null && PUBLISHED_PROTOCOL_TYPES.has(kind);
  }
  return true;
}

/** getContentType, skipping the plumbing keys that may come first in a merged message. */
function contentTypeOf(content: proto.IMessage | undefined): string | undefined {
  if (!content) return undefined;
  const first = getContentType(content);
  if (first && !PLUMBING.has(first)) return first;
  const keys = Object.keys(content).filter(
    (k) =>
      !PLUMBING.has(k) &&
      (content as Record<string, unknown>)[k] !== undefined &&
      (content as Record<string, unknown>)[k] !== null,
  );
  return keys.find((k) => k.endsWith('Message') || k === 'conversation') ?? first;
}

/** The text of a message, when it has one, for backends that only want text. */
export function textOf(content: proto.IMessage | null | undefined): string | undefined {
  const c = normalizeMessageContent(content);
  if (!c) return undefined;
  return (
    c.conversation ??
    c.extendedTextMessage?.text ??
    c.imageMessage?.caption ??
    c.videoMessage?.caption ??
    c.documentMessage?.caption ??
    c.protocolMessage?.editedMessage?.conversation ??
    c.protocolMessage?.editedMessage?.extendedTextMessage?.text ??
    undefined
  );
}

/** JSON form of a proto message: longs and enums as strings, bytes as base64. */
export function messageToJson(
  content: proto.IMessage | null | undefined,
): Record<string, unknown> | undefined {
  if (!content) return undefined;
  const msg = content instanceof proto.Message ? content : proto.Message.fromObject(content);
  return proto.Message.toObject(msg, {
    longs: String,
    enums: String,
    bytes: String,
    defaults: false,
    arrays: false,
  });
}

function toSeconds(ts: WAMessage['messageTimestamp']): number | undefined {
  if (ts === null || ts === undefined) return undefined;
  return typeof ts === 'number' ? ts : Number(ts.toString());
}

export function inboundMessageEvent(
  ids: { clinicId: string; channelId: string },
  m: WAMessage,
  media?: InboundMessageEvent['media'],
): InboundMessageEvent {
  const key = m.key;
  const content = normalizeMessageContent(m.message);
  return {
    v: PAYLOAD_VERSION,
    clinicId: ids.clinicId,
    channelId: ids.channelId,
    id: key.id ?? '',
    chat: key.remoteJid ?? '',
    chatAlt: key.remoteJidAlt ?? undefined,
    sender: key.participant || key.remoteJid || '',
    senderAlt: key.participantAlt ?? key.remoteJidAlt ?? undefined,
    fromMe: key.fromMe === true,
    pushName: m.pushName ?? undefined,
    timestamp: toSeconds(m.messageTimestamp),
    type: contentTypeOf(content),
    text: textOf(content),
    ...typedFields(content),
    message: messageToJson(m.message),
    ...(media ? { media } : {}),
  };
}

const STATUS_NAMES: Record<number, string> = {
  [proto.WebMessageInfo.Status.ERROR]: 'error',
  [proto.WebMessageInfo.Status.PENDING]: 'pending',
  [proto.WebMessageInfo.Status.SERVER_ACK]: 'server-ack',
  [proto.WebMessageInfo.Status.DELIVERY_ACK]: 'delivered',
  [proto.WebMessageInfo.Status.READ]: 'read',
  [proto.WebMessageInfo.Status.PLAYED]: 'played',
};

/** `messages.update` → events (status changes of our messages). Returns [] for updates we don't report. */
export function messageUpdateEvents(
  ids: { clinicId: string; channelId: string },
  updates: WAMessageUpdate[],
  now: number,
): MessageUpdateEvent[] {
  const out: MessageUpdateEvent[] = [];
  for (const { key, update } of updates) {
    if (!key.id) continue;
    let name: string | undefined;
    let text: string | undefined;
    if (typeof update.status === 'number') name = STATUS_NAMES[update.status];
    else if (update.messageStubType === proto.WebMessageInfo.StubType.REVOKE) name = 'revoked';
    else if (update.message) {
      name = 'edited';
      text = textOf(update.message);
    }
    if (!name) continue;
    out.push({
      v: PAYLOAD_VERSION,
      ...ids,
      id: key.id,
      chat: key.remoteJid ?? '',
      fromMe: key.fromMe === true,
      update: name,
      participant: key.participant ?? undefined,
      ...(text !== undefined ? { text } : {}),
      timestamp: Math.floor(now / 1000),
    });
  }
  return out;
}

/**
 * The receipts folded into an upsert of a message we sent. While Baileys buffers events (the
 * first connection's wait for history sync, up to 20 s), an update to a message upserted in the
 * same buffer is merged into that upsert instead of being emitted as `messages.update`: the
 * patient's "delivered" and "read" of a reply sent in that window would otherwise never reach
 * the backend. Every level up to the folded status is reported (read implies delivered); the
 * events' dedup ids make a later separate update of the same level a no-op.
 */
export function foldedStatusUpdates(m: WAMessage): WAMessageUpdate[] {
  const status = m.status;
  if (!m.key.fromMe || !m.key.id || typeof status !== 'number') return [];
  const { DELIVERY_ACK, READ, PLAYED } = proto.WebMessageInfo.Status;
  return [DELIVERY_ACK, READ, PLAYED]
    .filter((level) => level <= status)
    .map((level) => ({ key: m.key, update: { status: level } }));
}

/** The per-participant receipts (groups) the same buffer folds into our message's upsert. */
export function foldedReceipts(m: WAMessage): MessageUserReceiptUpdate[] {
  if (!m.key.fromMe || !m.key.id) return [];
  return (m.userReceipt ?? []).map((receipt) => ({ key: m.key, receipt }));
}

/** `message-receipt.update` (per-participant receipts in groups) → events. */
export function receiptEvents(
  ids: { clinicId: string; channelId: string },
  receipts: MessageUserReceiptUpdate[],
): MessageUpdateEvent[] {
  return receipts
    .filter((r) => r.key.id)
    .map(({ key, receipt }) => {
      const type = receipt.readTimestamp ? 'read' : receipt.playedTimestamp ? 'played' : 'delivered';
      const ts = receipt.readTimestamp ?? receipt.playedTimestamp ?? receipt.receiptTimestamp;
      return {
        v: PAYLOAD_VERSION,
        ...ids,
        id: key.id!,
        chat: key.remoteJid ?? '',
        fromMe: key.fromMe === true,
        update: type,
        participant: receipt.userJid ?? undefined,
        timestamp: ts === null || ts === undefined ? undefined : Number(ts.toString()),
      };
    });
}

/** The JetStream dedup id of an update: one per message, kind of update and participant. */
export function updateDedupId(e: MessageUpdateEvent): string {
  return `${e.id}:${e.update}${e.participant ? `:${e.participant}` : ''}`;
}

/** The status.v1 payload of a phase change. */
export function statusEvent(
  ids: { clinicId: string; channelId: string; worker: string; waWebVersion?: string },
  r: StatusReport,
  seq: number,
  now: Date,
): StatusEvent {
  return {
    v: PAYLOAD_VERSION,
    clinicId: ids.clinicId,
    channelId: ids.channelId,
    worker: ids.worker,
    phase: r.phase,
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.message ? { message: r.message } : {}),
    ...(r.account ? { account: r.account } : {}),
    reconnects: r.reconnects,
    degraded: r.degraded,
    ...(r.lastConnectedAt ? { lastConnectedAt: r.lastConnectedAt } : {}),
    ...(ids.waWebVersion ? { waWebVersion: ids.waWebVersion } : {}),
    ...(r.pacing ? { pacing: { throttled: r.pacing.throttled, ratePerMinute: r.pacing.ratePerMinute } } : {}),
    at: now.toISOString(),
    seq,
  };
}

/** The qr.v1 payload of a QR code or a pairing code. */
export function pairingEvent(
  ids: { clinicId: string; channelId: string },
  p: PairingPayload,
  now: Date,
): PairingEvent {
  const base = {
    v: PAYLOAD_VERSION,
    clinicId: ids.clinicId,
    channelId: ids.channelId,
    at: now.toISOString(),
  } as const;
  return p.type === 'qr'
    ? { ...base, type: 'qr', qr: p.qr, attempt: p.attempt, maxAttempts: p.maxAttempts }
    : { ...base, type: 'code', code: p.code, phoneNumber: p.phoneNumber };
}
