/**
 * The simulated server's state and dispatch: which connection is which device, where each
 * incoming node goes, logins (and refusals), pairing completions, and server-initiated endings.
 */
import { EventEmitter } from 'node:events';
import type { proto } from '@whiskeysockets/baileys';
import {
  deviceJid,
  deviceLid,
  Directory,
  type Account,
  type CompanionDevice,
} from '../accounts/directory.ts';
import type { MediaHost } from '../media/media-host.ts';
import { Companions, copiesOf } from '../messaging/companions.ts';
import { Groups } from '../messaging/groups.ts';
import { DeliveryQueue } from '../messaging/delivery.ts';
import { Phones } from '../messaging/phones.ts';
import { emptyStats, type ReceivedMessage } from '../messaging/records.ts';
import { Pairing } from '../pairing/pairing.ts';
import type { Registration } from '../pairing/registration.ts';
import type { HandshakeResult } from '../protocol/noise.ts';
import { SERVER_JID, unixSeconds, type BinaryNode } from '../protocol/nodes.ts';
import { ClientSession } from './client-session.ts';
import {
  announcedVersion,
  CLIENT_OUTDATED,
  ClientVersions,
  type ClientVersionPolicy,
} from './client-versions.ts';
import type { Connection, ConnectionHooks } from './connection.ts';
import { ConnectionLog } from './connection-log.ts';
import { applyEnding, loginFailure, type EndingName } from './endings.ts';
import { answerIq } from './iq-handlers.ts';
import { RateLimits } from './rate-limits.ts';

export interface HubOptions {
  qrRefs: number;
  replyTimeoutMs: number;
  /**
   * What a second login of a device does to the first one: the real server ends the older one
   * with 440 "replaced"; "allow" keeps both, so a test can see two live connections.
   */
  duplicateLogin: 'replace-old' | 'allow';
  /** Below this many uploaded pre-keys the server asks the device for more. */
  lowPreKeys: number;
  /** Client versions let in; others are refused with 405 at login and registration. */
  clientVersions?: ClientVersionPolicy;
}

export interface HubEvents {
  received: [account: Account, message: ReceivedMessage];
  paired: [companion: CompanionDevice];
  problem: [text: string];
}

export class Hub implements ConnectionHooks {
  readonly directory = new Directory();
  readonly log = new ConnectionLog();
  readonly stats = emptyStats();
  readonly events = new EventEmitter<HubEvents>();
  /** Protocol problems worth a test's attention (decrypt failures, unknown targets, handler errors). */
  readonly problems: string[] = [];
  /** Queries answered by the generic fallback ("xmlns/first child"). */
  readonly unhandledIqs: string[] = [];
  readonly pairing: Pairing;
  readonly delivery: DeliveryQueue;
  readonly phones: Phones;
  readonly companions: Companions;
  readonly groups: Groups;
  /** Which WhatsApp Web versions may log in (changeable while running). */
  readonly clientVersions: ClientVersions;
  /** WhatsApp's rate-overlimit answer, when a test switches it on (rate-limits.ts). */
  readonly rateLimits = new RateLimits();
  /** The media upload/download host (set once it listens, before any client connects). */
  media!: MediaHost;
  readonly #options: HubOptions;
  readonly #sessions = new Map<number, ClientSession>();
  readonly #refusals = new Map<string, { code: number; remaining: number }>();
  readonly #lowPreKeyNotified = new Set<CompanionDevice>();

  constructor(options: HubOptions) {
    this.#options = options;
    this.clientVersions = new ClientVersions(options.clientVersions);
    this.pairing = new Pairing(
      { paired: (r, c) => this.#paired(r, c) },
      { qrRefs: options.qrRefs, replyTimeoutMs: options.replyTimeoutMs },
    );
    this.delivery = new DeliveryQueue({ activeSession: (c) => this.#activeSession(c) }, this.stats);
    this.phones = new Phones({
      directory: this.directory,
      delivery: this.delivery,
      media: () => this.media,
      preKeyTaken: (c) => this.#preKeyTaken(c),
    });
    this.groups = new Groups({
      directory: this.directory,
      delivery: this.delivery,
      phones: this.phones,
      stats: this.stats,
      decryptCopy: (sender, recipient, node, copy) =>
        this.companions.decryptCopy(sender, recipient, node, copy),
      copiesOf,
      received: (account, message) => this.events.emit('received', account, message),
      problem: (text) => this.#problem(text),
    });
    this.companions = new Companions({
      directory: this.directory,
      delivery: this.delivery,
      phones: this.phones,
      groups: this.groups,
      stats: this.stats,
      media: () => this.media,
      received: (account, message) => this.events.emit('received', account, message),
      problem: (text) => this.#problem(text),
    });
  }

  connected(conn: Connection): void {
    this.log.opened(conn.id, conn.remoteAddress);
    this.#sessions.set(conn.id, new ClientSession(conn));
  }

  onHandshake(conn: Connection, { clientStatic, payload }: HandshakeResult): void {
    const session = this.#sessions.get(conn.id)!;
    const version = announcedVersion(payload);
    this.log.update(conn.id, { version });
    if (payload.devicePairingData) {
      if (this.#refuseOutdated(conn, version)) return;
      this.log.update(conn.id, { kind: 'registration' });
      this.pairing.begin(session, clientStatic, payload.devicePairingData);
    } else {
      this.#login(session, clientStatic, payload);
    }
  }

  async onNode(conn: Connection, node: BinaryNode): Promise<void> {
    const session = this.#sessions.get(conn.id);
    if (!session) return;
    try {
      if (node.tag === 'iq' && (node.attrs.type === 'result' || node.attrs.type === 'error')) {
        session.answer(node);
      } else if (node.tag === 'iq') {
        session.send(answerIq(this.#iqHost, session, node));
      } else if (session.companion) {
        if (node.tag === 'message') await this.companions.onMessage(session, node);
        else if (node.tag === 'receipt') await this.companions.onReceipt(session, node);
        else if (node.tag === 'ack') this.companions.onAck(session, node);
        else if (node.tag === 'chatstate') this.companions.onChatState(session, node);
        else if (node.tag === 'presence') this.companions.onPresence(session, node);
        // ib (unified_session, offline_batch): nothing to answer.
      }
    } catch (err) {
      this.#problem(
        `handling <${node.tag} id=${node.attrs.id}>: ${err instanceof Error ? err.stack : String(err)}`,
      );
    }
  }

  onClosed(conn: Connection): void {
    this.log.closed(conn.id);
    const session = this.#sessions.get(conn.id);
    this.#sessions.delete(conn.id);
    if (session) {
      session.closed();
      this.pairing.ended(session);
    }
  }

  onError(conn: Connection, err: unknown): void {
    this.#problem(`connection ${conn.id}: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** Logged-in, open connections of a device (normally at most one). */
  liveSessions(companion: CompanionDevice): ClientSession[] {
    return [...this.#sessions.values()].filter((s) => s.companion === companion && s.conn.isOpen);
  }

  /** Ends every live connection of a device the given way; returns how many were ended. */
  end(companion: CompanionDevice, ending: EndingName): number {
    const sessions = this.liveSessions(companion);
    if (ending === 'logged-out') this.#remove(companion);
    for (const session of sessions) {
      this.log.ending(session.conn.id, ending);
      applyEnding(session.conn, ending);
    }
    return sessions.length;
  }

  /** The next `times` logins of a device are refused with `<failure reason=code>`. */
  refuseLogins(jid: string, code: number, times: number): void {
    this.#refusals.set(jid, { code, remaining: times });
  }

  closeAll(): void {
    for (const session of this.#sessions.values()) session.conn.terminate();
  }

  readonly #iqHost = {
    directory: this.directory,
    media: () => this.media,
    groupQuery: (session: ClientSession, iq: BinaryNode) =>
      this.groups.answerQuery(session.companion?.account, iq),
    activated: (session: ClientSession) => this.#activated(session),
    linkCode: (session: ClientSession, iq: BinaryNode) => this.pairing.onLinkCodeIq(session, iq),
    loggedOut: (session: ClientSession) => session.companion && this.#remove(session.companion),
    preKeysUploaded: (session: ClientSession) =>
      session.companion && this.#lowPreKeyNotified.delete(session.companion),
    preKeyTaken: (jid: string) => {
      const companion = this.directory.findDevice(jid)?.companion;
      if (companion) this.#preKeyTaken(companion);
    },
    unhandled: (description: string) => this.unhandledIqs.push(description),
    overLimit: (session: ClientSession) =>
      session.companion !== undefined &&
      this.rateLimits.refuses(deviceJid(session.companion.account, session.companion.device)),
  };

  #login(session: ClientSession, noiseKey: Buffer, payload: proto.ClientPayload): void {
    const conn = session.conn;
    const pn = payload.username?.toString() ?? '';
    const device = payload.device ?? 0;
    const account = this.directory.findByPn(pn);
    const jid = account ? deviceJid(account, device) : `${pn}:${device}@s.whatsapp.net`;
    this.log.update(conn.id, { device: jid });
    const companion = account?.companions.get(device);
    if (this.#refuseOutdated(conn, announcedVersion(payload))) return;
    const refusal = this.#refusals.get(jid);
    let code = 0;
    if (!companion || companion.removed || !companion.noiseKey.equals(noiseKey)) code = 401;
    else if (refusal && refusal.remaining > 0) {
      refusal.remaining--;
      code = refusal.code;
    }
    if (code || !companion || !account) {
      this.log.update(conn.id, { kind: 'rejected' });
      this.log.ending(conn.id, `failure-${code}`);
      conn.endWith(loginFailure(code));
      return;
    }
    const older = this.liveSessions(companion);
    session.companion = companion;
    this.log.loggedIn(conn.id, jid);
    if (this.#options.duplicateLogin === 'replace-old') {
      for (const old of older) {
        this.log.ending(old.conn.id, 'replaced');
        applyEnding(old.conn, 'replaced');
      }
    }
    session.send({
      tag: 'success',
      attrs: { t: unixSeconds(), lid: deviceLid(account, device), location: 'sim' },
    });
  }

  /** An outdated client is refused before anything else is looked at, as WhatsApp does (405). */
  #refuseOutdated(conn: Connection, version: string): boolean {
    if (!this.clientVersions.refuses(version)) return false;
    this.log.update(conn.id, { kind: 'rejected' });
    this.log.ending(conn.id, `failure-${CLIENT_OUTDATED}`);
    conn.endWith(loginFailure(CLIENT_OUTDATED));
    return true;
  }

  /** After `passive active`: queued stanzas, then the end-of-offline marker. */
  #activated(session: ClientSession): void {
    if (!session.companion || session.active) return;
    session.active = true;
    const count = this.delivery.flush(session);
    session.send({
      tag: 'ib',
      attrs: { from: SERVER_JID },
      content: [{ tag: 'offline', attrs: { count: String(count) } }],
    });
  }

  #activeSession(companion: CompanionDevice): ClientSession | undefined {
    return this.liveSessions(companion)
      .filter((s) => s.active)
      .at(-1);
  }

  #paired(registration: Registration, companion: CompanionDevice): void {
    const jid = deviceJid(companion.account, companion.device);
    this.log.update(registration.session.conn.id, { device: jid });
    this.log.ending(registration.session.conn.id, 'paired-restart');
    this.events.emit('paired', companion);
    // The client expects the server to restart the stream once it is linked.
    applyEnding(registration.session.conn, 'restart-required');
  }

  #remove(companion: CompanionDevice): void {
    companion.removed = true;
    this.delivery.drop(companion);
  }

  #preKeyTaken(companion: CompanionDevice): void {
    if (companion.preKeys.size >= this.#options.lowPreKeys || this.#lowPreKeyNotified.has(companion)) return;
    const session = this.#activeSession(companion);
    if (!session) return;
    this.#lowPreKeyNotified.add(companion);
    session.send({
      tag: 'notification',
      attrs: { from: SERVER_JID, type: 'encrypt', id: `pk.${Date.now()}`, t: unixSeconds() },
      content: [{ tag: 'count', attrs: { value: String(companion.preKeys.size) } }],
    });
  }

  #problem(text: string): void {
    this.problems.push(text);
    this.events.emit('problem', text);
  }
}
