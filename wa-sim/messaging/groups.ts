/**
 * Groups: who is in them (the `w:g2` metadata query), and group messages both ways with sender
 * keys, as WhatsApp does it. A group message is one `skmsg` ciphertext for everyone, made with the
 * sender's sender key; the key itself travels pairwise (a `senderKeyDistributionMessage` inside
 * a pkmsg/msg) to each device that does not have it yet. The server fans the one `skmsg` out.
 *
 * Baileys → group: the copies in `<participants>` carry the sender key; each participant's phone
 * processes it, then decrypts the `skmsg`. Other companions get the stanza relayed, as the
 * server does. Phone → group: the phone sends its sender key pairwise with every copy, and the
 * `skmsg`, to every companion of every participant.
 */
import { randomBytes } from 'node:crypto';
import { encodeWAMessage, proto, unpadRandomMax16 } from '@whiskeysockets/baileys';
import {
  GroupCipher,
  GroupSessionBuilder,
  SenderKeyDistributionMessage,
  SenderKeyName,
  SenderKeyRecord,
} from '@whiskeysockets/baileys/lib/Signal/Group/index.js';
import type { SenderKeyStore } from '@whiskeysockets/baileys/lib/Signal/Group/group_cipher.js';
import { deviceJid, type Account, type CompanionDevice, type Directory } from '../accounts/directory.ts';
import { bytes, child, iqError, unixSeconds, type BinaryNode } from '../protocol/nodes.ts';
import type { DeliveryQueue } from './delivery.ts';
import type { Phones } from './phones.ts';
import type { MessagingStats, ReceivedMessage, SentMessage } from './records.ts';

export interface Group {
  jid: string;
  subject: string;
  /** Seconds since the epoch. */
  creation: number;
  creator: Account;
  participants: Account[];
  admins: Set<Account>;
}

interface Copy {
  jid: string;
  enc: BinaryNode;
}

export interface GroupsHost {
  directory: Directory;
  delivery: DeliveryQueue;
  phones: Phones;
  stats: MessagingStats;
  /** `recipient`'s phone decrypts its pairwise copy (companions.ts). */
  decryptCopy(
    sender: CompanionDevice,
    recipient: Account,
    node: BinaryNode,
    copy: Copy,
  ): Promise<proto.Message | undefined>;
  copiesOf(node: BinaryNode): Copy[];
  received(account: Account, message: ReceivedMessage): void;
  problem(text: string): void;
}

/** One phone's sender keys (its own, and those other devices distributed to it), in memory. */
class SenderKeys implements SenderKeyStore {
  readonly #records = new Map<string, SenderKeyRecord>();
  async loadSenderKey(name: SenderKeyName): Promise<SenderKeyRecord> {
    return this.#records.get(name.toString()) ?? new SenderKeyRecord();
  }
  async storeSenderKey(name: SenderKeyName, record: SenderKeyRecord): Promise<void> {
    this.#records.set(name.toString(), record);
  }
}

/** Sender keys are named by group and sending device; the simulator names devices by their PN JID. */
function senderKeyName(group: string, account: Account, device: number): SenderKeyName {
  const id = account.pn;
  return new SenderKeyName(group, { id, deviceId: device, toString: () => `${id}.${device}` });
}

export class Groups {
  readonly #host: GroupsHost;
  readonly #groups = new Map<string, Group>();
  readonly #keys = new Map<Account, SenderKeys>();

  constructor(host: GroupsHost) {
    this.#host = host;
  }

  /** A new group; the creator is its super-admin. Ids look like WhatsApp's (`120363…@g.us`). */
  create(creator: Account, subject: string, members: Account[]): Group {
    const digits = BigInt(`0x${randomBytes(7).toString('hex')}`)
      .toString()
      .padStart(12, '0')
      .slice(0, 12);
    const group: Group = {
      jid: `120363${digits}@g.us`,
      subject,
      creation: Math.floor(Date.now() / 1000),
      creator,
      participants: [creator, ...members.filter((m) => m !== creator)],
      admins: new Set([creator]),
    };
    this.#groups.set(group.jid, group);
    return group;
  }

  find(jid: string): Group | undefined {
    return this.#groups.get(jid);
  }

  /** `<iq xmlns=w:g2 type=get to=<group>><query request=interactive/>` → the group's metadata. */
  answerQuery(requester: Account | undefined, iq: BinaryNode): BinaryNode {
    const id = iq.attrs.id ?? '';
    const group = this.#groups.get(iq.attrs.to ?? '');
    if (!group || !child(iq, 'query')) return iqError(id, 404, 'item-not-found');
    if (!requester || !group.participants.includes(requester)) return iqError(id, 403, 'forbidden');
    const participants = group.participants.map((account) => ({
      tag: 'participant',
      attrs: {
        jid: account.jid,
        lid: account.lidJid,
        ...(account === group.creator
          ? { type: 'superadmin' }
          : group.admins.has(account)
            ? { type: 'admin' }
            : {}),
      },
    }));
    return {
      tag: 'iq',
      attrs: { id, type: 'result', from: group.jid },
      content: [
        {
          tag: 'group',
          attrs: {
            id: group.jid.split('@')[0]!,
            subject: group.subject,
            s_t: String(group.creation),
            s_o: group.creator.jid,
            creation: String(group.creation),
            creator: group.creator.jid,
            size: String(group.participants.length),
          },
          content: participants,
        },
      ],
    };
  }

  /** A companion's message to a group (already acked by the server and checked for duplicates). */
  async fromCompanion(sender: CompanionDevice, node: BinaryNode): Promise<void> {
    const group = this.#groups.get(node.attrs.to ?? '')!;
    const skmsg = (Array.isArray(node.content) ? node.content : []).find(
      (c) => c.tag === 'enc' && c.attrs.type === 'skmsg',
    );
    const pairwise = new Map<CompanionDevice, BinaryNode>();
    // Only devices without the sender key get a pairwise copy; later messages carry none.
    const copies = child(node, 'participants') ? this.#host.copiesOf(node) : [];
    for (const copy of copies) {
      const target = this.#host.directory.findDevice(copy.jid);
      if (!target) this.#host.problem(`group message ${node.attrs.id} for unknown device ${copy.jid}`);
      else if (target.companion) pairwise.set(target.companion, copy.enc);
      else await this.#takeSenderKey(sender, target.account, node, copy);
    }
    if (!skmsg) {
      this.#host.problem(`group message ${node.attrs.id} without skmsg`);
      return;
    }
    // Relayed to every other companion of every participant, with its pairwise copy if any.
    for (const account of group.participants) {
      for (const companion of account.activeCompanions()) {
        if (companion === sender) continue;
        const own = pairwise.get(companion);
        this.#host.stats.forwarded++;
        this.#host.delivery.push(companion, {
          tag: 'message',
          attrs: {
            from: group.jid,
            participant: deviceJid(sender.account, sender.device),
            participant_lid: sender.account.lidJid,
            id: node.attrs.id ?? '',
            t: unixSeconds(),
            type: node.attrs.type ?? 'text',
            notify: sender.account.name,
          },
          content: own ? [own, skmsg] : [skmsg],
        });
      }
    }
    for (const account of group.participants) await this.#decryptOnPhone(sender, account, group, node, skmsg);
  }

  /** `from`'s phone sends to a group: its sender key pairwise, and one skmsg, to every companion. */
  async sendMessage(
    from: Account,
    groupJid: string,
    message: proto.IMessage,
    id = phoneMessageId(),
  ): Promise<SentMessage> {
    const text = message.conversation ?? message.extendedTextMessage?.text ?? '';
    const group = this.#groups.get(groupJid);
    if (!group) throw new Error(`no such group: ${groupJid}`);
    if (!group.participants.includes(from)) throw new Error(`${from.pn} is not in ${groupJid}`);
    return this.#host.phones.serially(from, async () => {
      const keys = this.#keysOf(from);
      const name = senderKeyName(group.jid, from, 0);
      const distribution = await new GroupSessionBuilder(keys).create(name);
      const skmsg = await new GroupCipher(keys, name).encrypt(encodeWAMessage(message));
      const skdm: proto.IMessage = {
        senderKeyDistributionMessage: {
          groupId: group.jid,
          axolotlSenderKeyDistributionMessage: distribution.serialize(),
        },
      };
      const devices: string[] = [];
      for (const account of group.participants) {
        for (const companion of account.activeCompanions()) {
          const { type, ciphertext } = await this.#host.phones.encryptFor(from, companion, skdm);
          this.#host.delivery.push(companion, {
            tag: 'message',
            attrs: {
              from: group.jid,
              participant: from.jid,
              participant_lid: from.lidJid,
              id,
              t: unixSeconds(),
              type: 'text',
              notify: from.name,
            },
            content: [
              { tag: 'enc', attrs: { v: '2', type }, content: ciphertext },
              { tag: 'enc', attrs: { v: '2', type: 'skmsg' }, content: Buffer.from(skmsg) },
            ],
          });
          devices.push(deviceJid(companion.account, companion.device));
        }
      }
      const sent = { id, to: group.jid, text, devices, at: Date.now() };
      from.mailbox.sent.push(sent);
      return sent;
    });
  }

  #keysOf(account: Account): SenderKeys {
    let keys = this.#keys.get(account);
    if (!keys) this.#keys.set(account, (keys = new SenderKeys()));
    return keys;
  }

  /** A phone's pairwise copy of a group message: the sender's sender key (or, rarely, content). */
  async #takeSenderKey(
    sender: CompanionDevice,
    phoneOf: Account,
    node: BinaryNode,
    copy: Copy,
  ): Promise<void> {
    const message = await this.#host.decryptCopy(sender, phoneOf, node, copy);
    const distribution = message?.senderKeyDistributionMessage;
    if (!distribution?.axolotlSenderKeyDistributionMessage) return;
    const name = senderKeyName(node.attrs.to ?? '', sender.account, sender.device);
    const skdm = new SenderKeyDistributionMessage(
      null,
      null,
      null,
      null,
      distribution.axolotlSenderKeyDistributionMessage,
    );
    await new GroupSessionBuilder(this.#keysOf(phoneOf)).process(name, skdm);
  }

  async #decryptOnPhone(
    sender: CompanionDevice,
    account: Account,
    group: Group,
    node: BinaryNode,
    skmsg: BinaryNode,
  ): Promise<void> {
    const stats = this.#host.stats;
    let message: proto.Message;
    try {
      const name = senderKeyName(group.jid, sender.account, sender.device);
      const plaintext = await new GroupCipher(this.#keysOf(account), name).decrypt(bytes(skmsg)!);
      message = proto.Message.decode(unpadRandomMax16(plaintext));
    } catch (err) {
      stats.decryptFailures++;
      this.#host.problem(`group message ${node.attrs.id} on ${account.pn}'s phone: ${String(err)}`);
      return;
    }
    stats.decrypted++;
    const ownCopy = account === sender.account;
    const received: ReceivedMessage = {
      id: node.attrs.id ?? '',
      from: sender.account.jid,
      fromDevice: deviceJid(sender.account, sender.device),
      to: group.jid,
      group: group.jid,
      message,
      ownCopy,
      at: Date.now(),
    };
    const text = message.conversation ?? message.extendedTextMessage?.text;
    if (text) received.text = text;
    account.mailbox.inbox.push(received);
    this.#host.received(account, received);
    if (!ownCopy) this.#host.phones.sendReceipts(account, sender, group.jid, received.id, account.jid);
  }
}

function phoneMessageId(): string {
  return `3A${randomBytes(9).toString('hex').toUpperCase()}`;
}
