/**
 * What the rest of the worker may ask of the WhatsApp session. Commands (messages, read
 * receipts, presence, number checks, group queries) go through this port; the Baileys socket itself stays
 * inside the supervisor, which alone knows whether it is open, which one is current and what a
 * send means for liveness (the deaf detector waits for the server's ack of every sent message).
 *
 * New verbs are added here as methods with their own typed content, never by handing out the
 * socket.
 */
import type { Readable } from 'node:stream';
import type { proto, WAMessage } from '@whiskeysockets/baileys';
import type { Phase } from '../../../contract/index.ts';

/** A message named by a command (WhatsApp's message key without the chat). */
export interface MessageRef {
  id: string;
  fromMe: boolean;
  /** In groups: who sent it. */
  participant?: string | undefined;
}

/** An attachment to send: its bytes (in memory, or streamed from the channel's media store). */
export interface OutgoingMedia {
  kind: 'image' | 'video' | 'audio' | 'document' | 'sticker';
  source: Buffer | { stream: Readable };
  mimetype: string;
  fileName?: string | undefined;
  caption?: string | undefined;
  /** Audio as a voice note. */
  ptt?: boolean | undefined;
  seconds?: number | undefined;
}

/** What can be sent to a chat. */
export type OutgoingContent =
  | { kind: 'media'; media: OutgoingMedia }
  | {
      kind: 'text';
      text: string;
      /** Quotes this message (a reply); `text` is shown in the quote when given. */
      replyTo?: (MessageRef & { text?: string | undefined }) | undefined;
      /** JIDs mentioned (groups). */
      mentions?: string[] | undefined;
    }
  | { kind: 'reaction'; message: MessageRef; emoji: string }
  | { kind: 'edit'; messageId: string; text: string }
  | { kind: 'revoke'; message: MessageRef };

export type PresenceState = 'composing' | 'recording' | 'paused' | 'available' | 'unavailable';

export interface NumberCheck {
  /** The number asked about, digits only. */
  number: string;
  exists: boolean;
  /** Its user JID, when on WhatsApp. */
  jid?: string;
  /** Its LID, when WhatsApp gave one. */
  lid?: string;
}

export interface GroupInfo {
  jid: string;
  subject: string;
  owner?: string;
  /** Seconds since the epoch. */
  creation?: number;
  description?: string;
  participants: { jid: string; phoneNumber?: string; lid?: string; admin?: 'admin' | 'superadmin' }[];
}

export interface SendOptions {
  /**
   * The WhatsApp message id to send under (default: a new one). Sending again under the same id
   * is how a retry stays one message: WhatsApp keeps one message per id and sender device.
   */
  messageId?: string | undefined;
}

export interface SentMessage {
  /** WhatsApp's message id ('' if Baileys returned none). */
  id: string;
  /** Server timestamp in seconds, 0 when unknown. */
  timestamp: number;
}

export interface SessionPort {
  /** The current channel phase. */
  readonly phase: Phase;
  /**
   * Sends to a user, LID or group JID. Throws NotConnectedError before anything is sent when the session is
   * not Connected; any other error may come after the stanza left.
   */
  send(jid: string, content: OutgoingContent, options?: SendOptions): Promise<SentMessage>;
  /** Marks messages of a chat read (a read receipt to their senders). Throws NotConnectedError. */
  markRead(jid: string, messages: { id: string; participant?: string | undefined }[]): Promise<void>;
  /** Typing/recording/paused in a chat, or available/unavailable for the account. */
  setPresence(state: PresenceState, jid: string | undefined): Promise<void>;
  /** Which numbers (digits) are on WhatsApp, with JID and LID. Throws NotConnectedError. */
  checkNumbers(numbers: string[]): Promise<NumberCheck[]>;
  /** A group's metadata; throws GroupNotFoundError when WhatsApp does not know it (for us). */
  groupInfo(jid: string): Promise<GroupInfo>;
  /**
   * Asks the sender's phone to upload an expired attachment again (WhatsApp's media re-upload
   * request); resolves with the message carrying the new direct path. Throws NotConnectedError.
   */
  reuploadMedia(message: WAMessage): Promise<WAMessage>;
  /** Starts pairing; throws PairingRefusedError when the channel cannot pair now. */
  pair(mode: 'qr' | 'code', phoneNumber: string | undefined): Promise<void>;
  /** Unlinks the device and erases the state; throws NotConnectedError unless Connected. */
  logout(): Promise<void>;
}

export class NotConnectedError extends Error {
  readonly code = 'NotConnected';
  constructor(phase: Phase) {
    super(`the channel is not connected (phase ${phase})`);
    this.name = 'NotConnectedError';
  }
}

export class GroupNotFoundError extends Error {
  readonly code = 'NotFound';
  constructor(jid: string) {
    super(`no group ${jid} for this account (unknown, or the account is not a participant)`);
    this.name = 'GroupNotFoundError';
  }
}

export type PairingRefusal = 'AlreadyLinked' | 'PhoneNumberMissing';

export class PairingRefusedError extends Error {
  readonly code: PairingRefusal;
  constructor(code: PairingRefusal, message: string) {
    super(message);
    this.code = code;
    this.name = 'PairingRefusedError';
  }
}

/** Keeps a sent message (encrypted, bounded) so Baileys can answer a retry request for it. */
export type KeepSentMessage = (id: string, message: proto.IMessage) => Promise<void>;
