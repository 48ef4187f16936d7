/**
 * What the rest of the worker may ask of the WhatsApp session. Commands (and, later, media,
 * read receipts, reactions and presence) go through this port; the Baileys socket itself stays
 * inside the supervisor, which alone knows whether it is open, which one is current and what a
 * send means for liveness (the deaf detector waits for the server's ack of every sent message).
 *
 * New verbs are added here as methods with their own typed content, never by handing out the
 * socket.
 */
import type { proto } from '@whiskeysockets/baileys';
import type { Phase } from '../../../contract/index.ts';

/** What can be sent today. The media issue adds variants to this union. */
export type OutgoingContent = { kind: 'text'; text: string };

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
   * Sends to a user JID. Throws NotConnectedError before anything is sent when the session is
   * not Connected; any other error may come after the stanza left.
   */
  send(jid: string, content: OutgoingContent, options?: SendOptions): Promise<SentMessage>;
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
