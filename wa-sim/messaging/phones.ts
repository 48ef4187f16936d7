/**
 * Simulated phones talking to companion devices: sending texts (encrypted per companion device
 * with the pre-keys that device uploaded), answering retry receipts by re-encrypting, and
 * sending delivery/read receipts for what they received.
 */
import { randomBytes } from 'node:crypto';
import { encodeWAMessage, proto } from '@whiskeysockets/baileys';
import { encryptMedia, sealRetryNotification, type EncryptedMedia } from '../media/media-crypto.ts';
import type { MediaHost } from '../media/media-host.ts';
import { keyTypeOf, mediaMessage, type MediaToSend } from '../media/media-message.ts';
import {
  companionBundle,
  deviceJid,
  type Account,
  type CompanionDevice,
  type Directory,
} from '../accounts/directory.ts';
import { bytes, child, readUint, unixSeconds, type BinaryNode } from '../protocol/nodes.ts';
import type { PeerAddress, WireBundle } from '../signal/device.ts';
import { parseSignedPreKey } from '../server/prekeys.ts';
import type { DeliveryQueue } from './delivery.ts';
import type { SentMessage } from './records.ts';

export type Addressing = 'pn' | 'lid';

export interface SendTextOptions {
  /** How the stanza names the sender: PN with sender_lid (default), or LID with sender_pn. */
  addressing?: Addressing;
  /** Message id; a phone-style random one by default. */
  id?: string;
}

export interface PhonesHost {
  directory: Directory;
  delivery: DeliveryQueue;
  /** Where phones upload the media they send. */
  media(): MediaHost;
  /** A companion's one-time pre-key was handed out (the server may ask it to upload more). */
  preKeyTaken(companion: CompanionDevice): void;
}

interface SentContent {
  from: Account;
  target: Account;
  message: proto.IMessage;
  addressing: Addressing;
  /** The encrypted upload of a media message, kept to answer re-upload requests. */
  upload?: EncryptedMedia;
}

export function peerOf(companion: CompanionDevice): PeerAddress {
  return { lidUser: companion.account.lid, device: companion.device };
}

/** Message fields that make a stanza of type media (WhatsApp's `type` attribute). */
const MEDIA_FIELDS = [
  'imageMessage',
  'videoMessage',
  'audioMessage',
  'documentMessage',
  'stickerMessage',
] as const;

/** Phone-style ids ("3A" + hex), distinct from Baileys' "3EB0…". */
function newMessageId(): string {
  return `3A${randomBytes(9).toString('hex').toUpperCase()}`;
}

export class Phones {
  readonly #host: PhonesHost;
  readonly #sent = new Map<string, SentContent>();
  readonly #chains = new Map<Account, Promise<void>>();

  constructor(host: PhonesHost) {
    this.#host = host;
  }

  /**
   * `from`'s phone sends a text to `to` (a PN or LID JID, or a phone number): one copy per
   * linked companion of the recipient, plus a "sent from my phone" copy for each of the
   * sender's own companions.
   */
  async sendText(
    from: Account,
    to: string,
    text: string,
    options: SendTextOptions = {},
  ): Promise<SentMessage> {
    return this.#send(from, to, { conversation: text }, text, options);
  }

  /**
   * `from`'s phone encrypts and uploads a file to the media host, then sends the media message
   * (keys, hashes, direct path) like a text.
   */
  async sendMedia(
    from: Account,
    to: string,
    media: MediaToSend,
    options: SendTextOptions = {},
  ): Promise<SentMessage> {
    const host = this.#host.media();
    const upload = encryptMedia(media.data, keyTypeOf(media.kind, media.ptt));
    const directPath = host.put(upload.encrypted, media.kind);
    const message = mediaMessage(media, upload, { url: host.urlOf(directPath), directPath });
    return this.#send(from, to, message, media.caption ?? '', options, upload);
  }

  /**
   * A companion could not download a media message this phone sent (expired on the host) and
   * asked for a re-upload (`receipt type=server-error` with `<rmr>`): upload the same encrypted
   * bytes again and answer with a `mediaretry` notification carrying the new direct path, sealed
   * under the message's media key. False if this phone never sent that message.
   */
  reuploadMedia(companion: CompanionDevice, receipt: BinaryNode): boolean {
    const id = receipt.attrs.id ?? '';
    const rmr = child(receipt, 'rmr');
    const sent = this.#sent.get(id);
    const rmrAttrs: Record<string, string> = {
      jid: rmr?.attrs.jid ?? '',
      from_me: rmr?.attrs.from_me ?? 'false',
    };
    if (rmr?.attrs.participant) rmrAttrs.participant = rmr.attrs.participant;
    const attrs = { from: companion.account.jid, type: 'mediaretry', id, t: unixSeconds() };
    if (!sent?.upload) {
      this.#host.delivery.push(companion, {
        tag: 'notification',
        attrs,
        content: [
          { tag: 'rmr', attrs: rmrAttrs },
          { tag: 'error', attrs: { code: String(proto.MediaRetryNotification.ResultType.NOT_FOUND) } },
        ],
      });
      return false;
    }
    const directPath = this.#host.media().put(sent.upload.encrypted);
    const notification = proto.MediaRetryNotification.encode({
      stanzaId: id,
      directPath,
      result: proto.MediaRetryNotification.ResultType.SUCCESS,
    }).finish();
    const { ciphertext, iv } = sealRetryNotification(notification, sent.upload.mediaKey, id);
    this.#host.delivery.push(companion, {
      tag: 'notification',
      attrs,
      content: [
        {
          tag: 'encrypt',
          attrs: {},
          content: [
            { tag: 'enc_p', attrs: {}, content: ciphertext },
            { tag: 'enc_iv', attrs: {}, content: iv },
          ],
        },
        { tag: 'rmr', attrs: rmrAttrs },
      ],
    });
    return true;
  }

  /** Any message content (a reaction, an edit, a revoke, a location, a reply…), like a text. */
  async sendMessage(
    from: Account,
    to: string,
    message: proto.IMessage,
    options: SendTextOptions = {},
  ): Promise<SentMessage> {
    const text = message.conversation ?? message.extendedTextMessage?.text ?? '';
    return this.#send(from, to, message, text, options);
  }

  async #send(
    from: Account,
    to: string,
    message: proto.IMessage,
    text: string,
    options: SendTextOptions,
    upload?: EncryptedMedia,
  ): Promise<SentMessage> {
    const target = this.#host.directory.findUser(
      to.includes('@') ? to : `${to.replace(/^\+/, '')}@s.whatsapp.net`,
    );
    if (!target) throw new Error(`no such WhatsApp user: ${to}`);
    const id = options.id ?? newMessageId();
    const addressing = options.addressing ?? 'pn';
    this.#sent.set(id, { from, target, message, addressing, ...(upload ? { upload } : {}) });
    return this.#serially(from, async () => {
      const devices: string[] = [];
      const companions = [...target.activeCompanions(), ...(target !== from ? from.activeCompanions() : [])];
      for (const companion of companions) {
        await this.#deliver(from, target, companion, id, message, addressing);
        devices.push(deviceJid(companion.account, companion.device));
      }
      const sent = { id, to: target.jid, text, devices, at: Date.now() };
      from.mailbox.sent.push(sent);
      return sent;
    });
  }

  /**
   * One phone encrypts one message at a time: two sends racing to start the same session would
   * otherwise replace each other's session, and stanzas would queue out of order.
   */
  #serially<T>(phone: Account, work: () => Promise<T>): Promise<T> {
    const previous = this.#chains.get(phone) ?? Promise.resolve();
    const result = previous.then(work, work);
    this.#chains.set(
      phone,
      result.then(
        () => undefined,
        () => undefined,
      ),
    );
    return result;
  }

  /**
   * A companion could not decrypt a message of ours and asked for it again: start a new session
   * (from the keys in the receipt when it sent them, else from its published bundle) and resend.
   */
  async resendOnRetry(companion: CompanionDevice, receipt: BinaryNode): Promise<boolean> {
    const id = receipt.attrs.id ?? '';
    const sent = this.#sent.get(id);
    if (!sent) return false;
    const count = child(receipt, 'retry')?.attrs.count ?? '1';
    await this.#serially(sent.from, async () => {
      const fromReceipt = bundleFromRetry(receipt);
      const bundle = fromReceipt ?? companionBundle(companion);
      if (!fromReceipt) this.#host.preKeyTaken(companion);
      sent.from.phone.forgetSession(peerOf(companion));
      await sent.from.phone.startSession(peerOf(companion), bundle);
      await this.#deliver(sent.from, sent.target, companion, id, sent.message, sent.addressing, count);
    });
    return true;
  }

  /** `account`'s phone confirms messages a companion sent it: delivered, then read (per its policy). */
  sendReceipts(
    account: Account,
    companion: CompanionDevice,
    chatJid: string,
    id: string,
    /** In a group: the receipt names who it is from. */
    participant?: string,
  ): void {
    const policy = account.mailbox.receiptPolicy;
    if (policy === 'none') return;
    const receipt = (type?: string): BinaryNode => ({
      tag: 'receipt',
      attrs: {
        from: chatJid,
        id,
        t: unixSeconds(),
        ...(participant ? { participant } : {}),
        ...(type ? { type } : {}),
      },
    });
    this.#host.delivery.push(companion, receipt());
    if (policy === 'read') this.#host.delivery.push(companion, receipt('read'));
  }

  /** `from`'s phone encrypts a message for one companion (starting a session from its bundle). */
  async encryptFor(
    from: Account,
    companion: CompanionDevice,
    message: proto.IMessage,
  ): Promise<{ type: 'pkmsg' | 'msg'; ciphertext: Buffer }> {
    const peer = peerOf(companion);
    if (!from.phone.hasSession(peer)) {
      const bundle = companionBundle(companion);
      this.#host.preKeyTaken(companion);
      await from.phone.startSession(peer, bundle);
    }
    return from.phone.encrypt(peer, encodeWAMessage(message));
  }

  /** Runs `work` after everything `phone` is already encrypting (see #serially). */
  serially<T>(phone: Account, work: () => Promise<T>): Promise<T> {
    return this.#serially(phone, work);
  }

  async #deliver(
    from: Account,
    target: Account,
    companion: CompanionDevice,
    id: string,
    message: proto.IMessage,
    addressing: Addressing,
    retryCount?: string,
  ): Promise<void> {
    const ownCopy = companion.account === from && target !== from;
    const payload = ownCopy ? { deviceSentMessage: { destinationJid: target.jid, message } } : message;
    const { type, ciphertext } = await this.encryptFor(from, companion, payload);
    const stanzaType = message.reactionMessage
      ? 'reaction'
      : MEDIA_FIELDS.some((f) => message[f])
        ? 'media'
        : 'text';
    const attrs: Record<string, string> = { id, t: unixSeconds(), type: stanzaType, notify: from.name };
    if (ownCopy) Object.assign(attrs, { from: from.jid, recipient: target.jid });
    else if (addressing === 'lid')
      Object.assign(attrs, { from: from.lidJid, sender_pn: from.jid, addressing_mode: 'lid' });
    else Object.assign(attrs, { from: from.jid, sender_lid: from.lidJid });
    this.#host.delivery.push(companion, {
      tag: 'message',
      attrs,
      content: [
        {
          tag: 'enc',
          attrs: { v: '2', type, ...(retryCount ? { count: retryCount } : {}) },
          content: ciphertext,
        },
      ],
    });
  }
}

/** The pre-key bundle a retry receipt carries from the second retry on (`<registration>` + `<keys>`). */
function bundleFromRetry(receipt: BinaryNode): WireBundle | undefined {
  const keys = child(receipt, 'keys');
  const registrationId = readUint(bytes(child(receipt, 'registration')));
  const identityKey = bytes(child(keys, 'identity'));
  const skey = child(keys, 'skey');
  const signedPreKey = skey && parseSignedPreKey(skey);
  if (!keys || registrationId === undefined || identityKey?.length !== 32 || !signedPreKey) return undefined;
  const bundle: WireBundle = { registrationId, identityKey, signedPreKey };
  const key = child(keys, 'key');
  const keyId = readUint(bytes(child(key, 'id')));
  const publicKey = bytes(child(key, 'value'));
  if (keyId !== undefined && publicKey?.length === 32) bundle.preKey = { keyId, publicKey };
  return bundle;
}
