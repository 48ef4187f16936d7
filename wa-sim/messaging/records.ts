/**
 * What the simulator remembers about messages, per simulated account and in total, for tests
 * to assert on.
 */
import type { proto } from '@whiskeysockets/baileys';
import type { ReceivedMedia } from '../media/media-message.ts';

/** A message a companion (Baileys) sent, as the simulated recipient phone decrypted it. */
export interface ReceivedMessage {
  id: string;
  /** The sender's account JID ("<pn>@s.whatsapp.net"). */
  from: string;
  /** The sending companion device ("<pn>:<device>@s.whatsapp.net"). */
  fromDevice: string;
  /** The chat as the stanza addressed it (PN or LID JID, or the group). */
  to: string;
  /** Set for a group message: the group's JID. */
  group?: string;
  text?: string;
  /** The attachment, downloaded from the media host and decrypted by the phone. */
  media?: ReceivedMedia;
  message: proto.IMessage;
  /** True for the copy a companion sends its own phone (deviceSentMessage). */
  ownCopy: boolean;
  at: number;
}

/** A message a simulated phone sent to companions. */
export interface SentMessage {
  id: string;
  to: string;
  text: string;
  /** Companion devices it was encrypted for. */
  devices: string[];
  at: number;
}

export type ReceiptType = 'delivery' | 'read' | 'played' | 'sender' | 'inactive' | 'retry' | string;

/** A receipt a companion sent for a message of a simulated phone. */
export interface ReceiptRecord {
  id: string;
  /** The companion device that sent it. */
  device: string;
  type: ReceiptType;
  at: number;
}

/** "typing…" and friends a companion showed in a chat with (or a group of) a simulated user. */
export interface ChatStateRecord {
  /** The account that showed it ("<pn>@s.whatsapp.net"). */
  from: string;
  /** The chat as the companion named it (this user's PN or LID JID, or a group). */
  chat: string;
  state: 'composing' | 'recording' | 'paused';
  at: number;
}

/** An account's online state, as its companions set it (`<presence type>`). */
export interface PresenceRecord {
  device: string;
  state: 'available' | 'unavailable';
  at: number;
}

export interface MessagingStats {
  /** `<message>` stanzas received from companions. */
  fromCompanions: number;
  /** Copies of those decrypted by simulated phones. */
  decrypted: number;
  decryptFailures: number;
  /** Copies forwarded to other companion devices. */
  forwarded: number;
  /** `<ack>`s the server sent for companions' messages. */
  serverAcks: number;
  /** Message stanzas acked but not delivered: their id was already accepted from that device. */
  duplicatesDropped: number;
  /** Message stanzas pushed to companions (redeliveries after a reconnect count again). */
  delivered: number;
  /** Messages a companion confirmed, by receipt or ack (each message once per device). */
  acknowledged: number;
  /** Messages a companion refused (`<ack error>`). */
  nacked: number;
  retryReceipts: number;
  /** Delivery/read receipts the server pushed to companions. */
  receiptsToCompanions: number;
  /** Of those, acknowledged by the companion. */
  receiptsAcked: number;
  /** Stanzas waiting for a companion to come online or to acknowledge them. */
  pending: number;
}

export function emptyStats(): MessagingStats {
  return {
    fromCompanions: 0,
    decrypted: 0,
    decryptFailures: 0,
    forwarded: 0,
    serverAcks: 0,
    duplicatesDropped: 0,
    delivered: 0,
    acknowledged: 0,
    nacked: 0,
    retryReceipts: 0,
    receiptsToCompanions: 0,
    receiptsAcked: 0,
    pending: 0,
  };
}

/** Which receipts a simulated phone sends for messages it receives. */
export type ReceiptPolicy = 'read' | 'delivery' | 'none';

export interface Mailbox {
  inbox: ReceivedMessage[];
  sent: SentMessage[];
  receipts: ReceiptRecord[];
  /** Chat states companions of other accounts showed this user. */
  chatStates: ChatStateRecord[];
  /** Online states this account's own companions set. */
  presences: PresenceRecord[];
  receiptPolicy: ReceiptPolicy;
}

export function emptyMailbox(): Mailbox {
  return { inbox: [], sent: [], receipts: [], chatStates: [], presences: [], receiptPolicy: 'read' };
}
