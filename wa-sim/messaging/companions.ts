/**
 * Stanzas coming from companion devices (Baileys): messages (acked by the server, then each
 * `<to>` copy decrypted by the simulated phone it is for, or forwarded to the companion it is
 * for), receipts and acks.
 */
import { jidDecode, proto, unpadRandomMax16 } from '@whiskeysockets/baileys';
import {
  deviceJid,
  deviceLid,
  type Account,
  type CompanionDevice,
  type Directory,
} from '../accounts/directory.ts';
import { bytes, child, children, unixSeconds, type BinaryNode } from '../protocol/nodes.ts';
import type { ClientSession } from '../server/client-session.ts';
import type { CipherType } from '../signal/device.ts';
import type { MediaHost } from '../media/media-host.ts';
import { openMedia } from '../media/media-message.ts';
import { ackKey, type DeliveryQueue } from './delivery.ts';
import type { Groups } from './groups.ts';
import { peerOf, type Phones } from './phones.ts';
import type { MessagingStats, ReceivedMessage } from './records.ts';

export interface CompanionsHost {
  directory: Directory;
  delivery: DeliveryQueue;
  phones: Phones;
  groups: Groups;
  stats: MessagingStats;
  /** Where phones download the media companions send them. */
  media(): MediaHost;
  /** A simulated phone received a message (for waiters). */
  received(account: Account, message: ReceivedMessage): void;
  /** Something failed that a test should be able to see. */
  problem(text: string): void;
}

export interface Copy {
  jid: string;
  enc: BinaryNode;
}

/** `<participants><to jid><enc/></to>…` for a normal send, or one direct `<enc>` for a retry or peer message. */
export function copiesOf(node: BinaryNode): Copy[] {
  const participants = child(node, 'participants');
  if (participants) {
    return children(participants, 'to').flatMap((to) => {
      const enc = child(to, 'enc');
      return enc && to.attrs.jid ? [{ jid: to.attrs.jid, enc }] : [];
    });
  }
  const enc = child(node, 'enc');
  return enc && node.attrs.to ? [{ jid: node.attrs.to, enc }] : [];
}

/** How many message ids per server the duplicate check remembers (oldest forgotten first). */
const ACCEPTED_IDS_KEPT = 50_000;

/** A retry resend (`<enc count>`) re-encrypts a message the recipient could not read: not a duplicate. */
function isRetryResend(node: BinaryNode): boolean {
  return copiesOf(node).some((copy) => copy.enc.attrs.count !== undefined);
}

export class Companions {
  readonly #host: CompanionsHost;
  /**
   * `<sender device> <id>` of message stanzas already accepted. A client resends a message it
   * never saw acked (WhatsApp Web after a reconnect) with the same id: like WhatsApp, the server
   * acks it again and does not deliver it twice.
   */
  readonly #accepted = new Set<string>();
  /** Stanzas whose retry receipt arrived: the nack that follows it must not unqueue the resend. */
  readonly #retrying = new Set<string>();

  constructor(host: CompanionsHost) {
    this.#host = host;
  }

  async onMessage(session: ClientSession, node: BinaryNode): Promise<void> {
    const sender = session.companion!;
    const stats = this.#host.stats;
    stats.fromCompanions++;
    // The server acknowledges receipt of the stanza right away; delivery comes later.
    session.send({
      tag: 'ack',
      attrs: { class: 'message', id: node.attrs.id ?? '', from: node.attrs.to ?? '', t: unixSeconds() },
    });
    stats.serverAcks++;
    if (!this.#firstTime(sender, node)) {
      stats.duplicatesDropped++;
      return;
    }
    if (this.#host.groups.find(node.attrs.to ?? '')) {
      await this.#host.groups.fromCompanion(sender, node);
      return;
    }
    for (const copy of copiesOf(node)) {
      const target = this.#host.directory.findDevice(copy.jid);
      if (!target) {
        this.#host.problem(`message ${node.attrs.id} for unknown device ${copy.jid}`);
      } else if (target.companion) {
        this.#forward(sender, target.companion, node, copy);
      } else {
        await this.#decrypt(sender, target.account, node, copy);
      }
    }
  }

  #firstTime(sender: CompanionDevice, node: BinaryNode): boolean {
    if (isRetryResend(node)) return true;
    const key = `${deviceJid(sender.account, sender.device)} ${node.attrs.id ?? ''}`;
    if (this.#accepted.has(key)) return false;
    this.#accepted.add(key);
    if (this.#accepted.size > ACCEPTED_IDS_KEPT) this.#accepted.delete(this.#accepted.values().next().value!);
    return true;
  }

  async onReceipt(session: ClientSession, node: BinaryNode): Promise<void> {
    const companion = session.companion!;
    const ids = [node.attrs.id ?? '', ...children(child(node, 'list'), 'item').map((i) => i.attrs.id ?? '')];
    const type = node.attrs.type ?? 'delivery';
    if (type === 'server-error' && child(node, 'rmr')) {
      // A media re-upload request: the phone that sent the message uploads it again.
      this.#host.phones.reuploadMedia(companion, node);
      return;
    }
    const account = node.attrs.to ? this.#host.directory.findUser(node.attrs.to) : undefined;
    for (const id of ids) {
      account?.mailbox.receipts.push({
        id,
        device: deviceJid(companion.account, companion.device),
        type,
        at: Date.now(),
      });
      if (type === 'retry') {
        this.#host.stats.retryReceipts++;
        this.#retrying.add(ackKey('message', id));
        await this.#host.phones.resendOnRetry(companion, node);
      } else {
        // Any other receipt from the device confirms it has the message.
        this.#host.delivery.confirm(companion, ackKey('message', id));
      }
    }
    if (type !== 'retry') this.#relayReceipt(companion, node);
  }

  /** A receipt for a message another companion sent goes back to that companion. */
  #relayReceipt(from: CompanionDevice, node: BinaryNode): void {
    const target = node.attrs.to ? this.#host.directory.findDevice(node.attrs.to) : undefined;
    if (!target?.companion || target.account === from.account) return;
    const chat = jidDecode(node.attrs.to)?.server === 'lid' ? from.account.lidJid : from.account.jid;
    const attrs: Record<string, string> = { from: chat, id: node.attrs.id ?? '', t: unixSeconds() };
    if (node.attrs.type && node.attrs.type !== 'inactive') attrs.type = node.attrs.type;
    const list = child(node, 'list');
    this.#host.delivery.push(
      target.companion,
      list ? { tag: 'receipt', attrs, content: [list] } : { tag: 'receipt', attrs },
    );
  }

  /**
   * `<chatstate to><composing|paused/></chatstate>` (recording is composing with media=audio):
   * recorded for the user it was shown to, or for every other participant of a group.
   */
  onChatState(session: ClientSession, node: BinaryNode): void {
    const from = session.companion!.account;
    const state = Array.isArray(node.content) ? node.content[0] : undefined;
    const chat = node.attrs.to ?? '';
    if (!state || (state.tag !== 'composing' && state.tag !== 'paused')) {
      this.#host.problem(`chatstate without composing/paused from ${from.jid}`);
      return;
    }
    const recorded = state.tag === 'composing' && state.attrs.media === 'audio' ? 'recording' : state.tag;
    const group = this.#host.groups.find(chat);
    const audience = group
      ? group.participants.filter((a) => a !== from)
      : [this.#host.directory.findUser(chat)];
    for (const account of audience) {
      account?.mailbox.chatStates.push({ from: from.jid, chat, state: recorded, at: Date.now() });
    }
  }

  /** `<presence type=available|unavailable name>`: the account's online state. */
  onPresence(session: ClientSession, node: BinaryNode): void {
    const companion = session.companion!;
    const state = node.attrs.type;
    if (state !== 'available' && state !== 'unavailable') return;
    companion.account.mailbox.presences.push({
      device: deviceJid(companion.account, companion.device),
      state,
      at: Date.now(),
    });
  }

  onAck(session: ClientSession, node: BinaryNode): void {
    const companion = session.companion!;
    const key = ackKey(node.attrs.class ?? '', node.attrs.id ?? '', node.attrs.type);
    if (node.attrs.class === 'message' && node.attrs.error) {
      this.#host.stats.nacked++;
      if (this.#retrying.delete(key)) return;
    }
    this.#host.delivery.confirm(companion, key);
  }

  /** `recipient`'s phone decrypts its pairwise copy of a companion's message (undefined: a problem). */
  async decryptCopy(
    sender: CompanionDevice,
    recipient: Account,
    node: BinaryNode,
    copy: Copy,
  ): Promise<proto.Message | undefined> {
    const stats = this.#host.stats;
    const type = copy.enc.attrs.type as CipherType;
    const ciphertext = bytes(copy.enc);
    if ((type !== 'pkmsg' && type !== 'msg') || !ciphertext) {
      this.#host.problem(`message ${node.attrs.id}: unsupported enc type ${type}`);
      return undefined;
    }
    try {
      const plaintext = await recipient.phone.decrypt(peerOf(sender), type, ciphertext);
      stats.decrypted++;
      return proto.Message.decode(unpadRandomMax16(plaintext));
    } catch (err) {
      stats.decryptFailures++;
      this.#host.problem(
        `message ${node.attrs.id} from ${deviceJid(sender.account, sender.device)}: ${String(err)}`,
      );
      return undefined;
    }
  }

  async #decrypt(sender: CompanionDevice, recipient: Account, node: BinaryNode, copy: Copy): Promise<void> {
    const message = await this.decryptCopy(sender, recipient, node, copy);
    if (!message) return;
    const ownCopy = recipient === sender.account;
    const content = message.deviceSentMessage?.message ?? message;
    const received: ReceivedMessage = {
      id: node.attrs.id ?? '',
      from: sender.account.jid,
      fromDevice: deviceJid(sender.account, sender.device),
      to: node.attrs.to ?? '',
      message: content,
      ownCopy,
      at: Date.now(),
    };
    const text = content.conversation ?? content.extendedTextMessage?.text;
    if (text) received.text = text;
    const media = openMedia(content, (where) => this.#host.media().get(where));
    if (media) {
      received.media = media;
      if (media.caption) received.text = media.caption;
      if (media.error) this.#host.problem(`message ${received.id}: media: ${media.error}`);
    }
    recipient.mailbox.inbox.push(received);
    this.#host.received(recipient, received);
    // The chat, as the recipient's receipts name it: the same JID form the sender used.
    if (!ownCopy && node.attrs.category !== 'peer')
      this.#host.phones.sendReceipts(recipient, sender, node.attrs.to ?? recipient.jid, received.id);
  }

  /** A copy for another companion device: the server relays it as that device will see it. */
  #forward(sender: CompanionDevice, target: CompanionDevice, node: BinaryNode, copy: Copy): void {
    const from = sender.account;
    const attrs: Record<string, string> = {
      id: node.attrs.id ?? '',
      t: unixSeconds(),
      type: node.attrs.type ?? 'text',
      notify: from.name,
    };
    if (target.account === from) {
      Object.assign(attrs, {
        from: deviceJid(from, sender.device),
        recipient: node.attrs.recipient ?? node.attrs.to ?? '',
      });
    } else if (jidDecode(node.attrs.to ?? '')?.server === 'lid') {
      Object.assign(attrs, {
        from: deviceLid(from, sender.device),
        sender_pn: from.jid,
        addressing_mode: 'lid',
      });
    } else {
      Object.assign(attrs, { from: deviceJid(from, sender.device), sender_lid: from.lidJid });
    }
    const content: BinaryNode[] = [copy.enc];
    const identity = child(node, 'device-identity');
    if (identity) content.push(identity);
    this.#host.stats.forwarded++;
    this.#host.delivery.push(target, { tag: 'message', attrs, content });
  }
}
