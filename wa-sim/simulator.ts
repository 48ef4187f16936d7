/**
 * The WhatsApp Web multi-device server simulator: the public API tests, benchmarks and demos
 * use. Start one, point an unmodified Baileys at `url` (after trusting `rootPublicKey`), and
 * drive the other side through simulated users (their phones link devices, send and receive
 * texts, send receipts) and server-initiated endings.
 */
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys';
import { deviceJid, deviceLid, type Account } from './accounts/directory.ts';
import type { proto } from '@whiskeysockets/baileys';
import type { Group } from './messaging/groups.ts';
import type {
  ChatStateRecord,
  PresenceRecord,
  ReceiptPolicy,
  ReceivedMessage,
  ReceiptRecord,
  SentMessage,
  MessagingStats,
} from './messaging/records.ts';
import type { SendTextOptions } from './messaging/phones.ts';
import { MediaHost, type MediaHostStats } from './media/media-host.ts';
import type { MediaKind, MediaToSend, ReceivedMedia } from './media/media-message.ts';
import { defaultTrustRoot, type TrustRoot } from './protocol/cert-chain.ts';
import type { ClientVersionPolicy } from './server/client-versions.ts';
import type { ConnectionLog } from './server/connection-log.ts';
import { ENDINGS, type EndingName } from './server/endings.ts';
import type { RateLimitPolicy, RateLimitRefusal } from './server/rate-limits.ts';
import { Hub, type HubOptions } from './server/hub.ts';
import { listen } from './server/listener.ts';
import { waitUntil } from './wait.ts';

export interface SimulatorOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Defaults to one root per process, so one trust setting covers every simulator in it. */
  trustRoot?: TrustRoot;
  /** QR refs per pairing attempt (default 6). */
  qrRefs?: number;
  duplicateLogin?: HubOptions['duplicateLogin'];
  /** How long the phone waits for a companion's answers while linking (default 15 s). */
  replyTimeoutMs?: number;
  /** Which client versions get in (default: all); others are refused with 405 as outdated. */
  clientVersions?: ClientVersionPolicy;
  /** Port of the HTTPS media host (default: a free one). */
  mediaPort?: number;
}

export interface DeviceInfo {
  jid: string;
  lid: string;
  device: number;
  pairedAt: number;
  removed: boolean;
  /** Uploaded one-time pre-keys the server still holds. */
  preKeys: number;
  live: number;
  /** Stanzas queued for it, not yet acknowledged. */
  pending: number;
  delivered: number;
  acknowledged: number;
}

/** A simulated WhatsApp user: its phone links companions and talks to them. */
export class SimUser {
  readonly #account: Account;
  readonly #hub: Hub;

  constructor(account: Account, hub: Hub) {
    this.#account = account;
    this.#hub = hub;
  }

  get pn(): string {
    return this.#account.pn;
  }
  get lid(): string {
    return this.#account.lid;
  }
  /** "<pn>@s.whatsapp.net" */
  get jid(): string {
    return this.#account.jid;
  }
  /** "<lid>@lid" */
  get lidJid(): string {
    return this.#account.lidJid;
  }
  get name(): string {
    return this.#account.name;
  }

  /** The phone scans a companion's QR string; resolves with the new device's JID once linked. */
  async scanQr(qr: string): Promise<string> {
    const companion = await this.#hub.pairing.scanQr(this.#account, qr);
    return deviceJid(this.#account, companion.device);
  }

  /** The phone enters the code a companion got from requestPairingCode(this.pn). */
  async enterPairingCode(code: string): Promise<string> {
    const companion = await this.#hub.pairing.enterCode(this.#account, code);
    return deviceJid(this.#account, companion.device);
  }

  /** The phone sends a text to another user's linked devices (`to`: JID or phone number). */
  sendText(to: string, text: string, options?: SendTextOptions): Promise<SentMessage> {
    return this.#hub.phones.sendText(this.#account, to, text, options);
  }

  /**
   * The phone encrypts `media.data` (HKDF-expanded media key, AES-CBC, truncated HMAC), uploads
   * it to the media host and sends the media message to `to`'s linked devices.
   */
  sendMedia(to: string, media: MediaToSend, options?: SendTextOptions): Promise<SentMessage> {
    return this.#hub.phones.sendMedia(this.#account, to, media, options);
  }

  /**
   * The phone sends any message content (a reaction, an edit, a revoke, a reply, a location…) to a
   * user (JID or number) or a group this user is in.
   */
  sendMessage(to: string, message: proto.IMessage, options?: SendTextOptions): Promise<SentMessage> {
    return to.endsWith('@g.us')
      ? this.#hub.groups.sendMessage(this.#account, to, message, options?.id)
      : this.#hub.phones.sendMessage(this.#account, to, message, options);
  }

  /** The phone creates a group with these members; this user is its super-admin. */
  createGroup(subject: string, members: SimUser[]): SimGroup {
    const accounts = members.map((m) => this.#hub.directory.findUser(m.jid)!);
    const group = this.#hub.groups.create(this.#account, subject, accounts);
    return groupView(group);
  }

  /** "typing…", "recording…" and "paused" that other users' companions showed this user. */
  get chatStates(): ChatStateRecord[] {
    return [...this.#account.mailbox.chatStates];
  }

  /** available/unavailable that this user's own companions set. */
  get presences(): PresenceRecord[] {
    return [...this.#account.mailbox.presences];
  }

  waitForChatState(match: (c: ChatStateRecord) => boolean, timeoutMs = 10_000): Promise<ChatStateRecord> {
    return waitUntil(
      () => this.#account.mailbox.chatStates.find(match),
      timeoutMs,
      `a chat state shown to ${this.pn}`,
    );
  }

  /** Which receipts this phone sends for messages it receives (default "read": delivery then read). */
  set receipts(policy: ReceiptPolicy) {
    this.#account.mailbox.receiptPolicy = policy;
  }

  /** Messages companions sent to this user (and copies of what its own companions sent). */
  get inbox(): ReceivedMessage[] {
    return [...this.#account.mailbox.inbox];
  }
  get sent(): SentMessage[] {
    return [...this.#account.mailbox.sent];
  }
  /** Receipts companions sent for this phone's messages. */
  get receiptsReceived(): ReceiptRecord[] {
    return [...this.#account.mailbox.receipts];
  }

  /** Each companion this phone linked, as [device jid, unlinked since?]: what tests assert on. */
  links(): [jid: string, removed: boolean][] {
    return this.devices().map((d) => [d.jid, d.removed]);
  }

  devices(): DeviceInfo[] {
    return [...this.#account.companions.values()].map((c) => {
      const jid = deviceJid(this.#account, c.device);
      return {
        jid,
        lid: deviceLid(this.#account, c.device),
        device: c.device,
        pairedAt: c.pairedAt,
        removed: c.removed,
        preKeys: c.preKeys.size,
        live: this.#hub.liveSessions(c).length,
        pending: this.#hub.delivery.pendingFor(c),
        ...this.#hub.delivery.counters(jid),
      };
    });
  }

  waitForMessage(match: (m: ReceivedMessage) => boolean, timeoutMs = 10_000): Promise<ReceivedMessage> {
    return waitUntil(() => this.#account.mailbox.inbox.find(match), timeoutMs, `a message to ${this.pn}`);
  }

  waitForReceipt(id: string, type: string, timeoutMs = 10_000): Promise<ReceiptRecord> {
    return waitUntil(
      () => this.#account.mailbox.receipts.find((r) => r.id === id && r.type === type),
      timeoutMs,
      `a ${type} receipt for ${id}`,
    );
  }
}

/** The simulated media host (WhatsApp's mmg.whatsapp.net), HTTPS on loopback. */
export interface SimulatorMedia {
  /** "host:port", as `media_conn` announces it. */
  hostname: string;
  /** The test CA that signed the host's certificate (PEM): NODE_EXTRA_CA_CERTS for client processes. */
  caPem: string;
  /** The encrypted bytes stored at a URL or direct path. */
  get(urlOrDirectPath: string): Buffer | undefined;
  /** Forgets an upload (as WhatsApp does after a while); only a re-upload request brings it back. */
  expire(urlOrDirectPath: string): boolean;
  /** While false, every request gets 503 (the host is down). */
  setAvailable(available: boolean): void;
  /** A host that answers ranged requests with the whole object. */
  setIgnoreRange(ignore: boolean): void;
  /** Whole-file downloads at most this fast (undefined: full speed), to act while one runs. */
  setDownloadRate(bytesPerSecond: number | undefined): void;
  stats(): MediaHostStats;
}

/** A group as tests see it. */
export interface SimGroup {
  jid: string;
  subject: string;
  /** Participants' JIDs, the creator first. */
  participants: string[];
}

function groupView(group: Group): SimGroup {
  return { jid: group.jid, subject: group.subject, participants: group.participants.map((a) => a.jid) };
}

export interface Simulator {
  /** ws://host:port/ws/chat — Baileys' `waWebSocketUrl`. */
  url: string;
  /** The root Baileys must trust (WA_CERT_DETAILS.PUBLIC_KEY), 32 bytes. */
  rootPublicKey: Buffer;
  /**
   * Makes Baileys in this process trust the simulator (its only client-side change) and its
   * media host's test CA (another process gets the CA through NODE_EXTRA_CA_CERTS instead).
   */
  trustInThisProcess(): void;
  media: SimulatorMedia;
  /** A simulated user, created on first use; `phone` and `contact` are the same thing by role. */
  user(pn: string, name?: string): SimUser;
  phone(pn: string, name?: string): SimUser;
  contact(pn: string, name?: string): SimUser;
  users(): SimUser[];
  connections: ConnectionLog;
  stats(): MessagingStats;
  /** Ends every live connection of a device (its JID, "<pn>:<device>@s.whatsapp.net"); returns how many. */
  endSession(device: string, ending: EndingName): number;
  /** Refuses the next `times` logins of a device with `<failure reason=code>` (401, 403, …). */
  refuseLogins(device: string, code: number, times?: number): void;
  /**
   * From now on, only these WhatsApp Web versions (ClientPayload.userAgent.appVersion, as
   * "2.3000.1023223821") may log in or register; others get `<failure reason=405>`, as WhatsApp
   * answers an outdated client. `{}` lets every version in again. Live connections stay up.
   */
  setClientVersions(policy: ClientVersionPolicy): void;
  clientVersions(): ClientVersionPolicy;
  /**
   * WhatsApp's "too fast": the next `times` device queries, or those over `perMinute` per
   * companion device, are answered `429 rate-overlimit` (server/rate-limits.ts). `{}` turns it off.
   */
  rateOverlimit(policy: RateLimitPolicy): void;
  /** The policy in force and every refusal so far (device, time). */
  rateLimits(): { policy: RateLimitPolicy; refusals: RateLimitRefusal[] };
  /**
   * What the simulated phones received from companions (own copies left out), oldest first:
   * recipient, sender, message id and when the phone decrypted it (ms since the epoch). With
   * `from`, only messages from that account's number.
   */
  received(from?: string): PhoneDelivery[];
  /** Problems the simulator saw (decrypt failures, unknown targets, handler errors). */
  problems(): string[];
  /** Queries only the generic fallback answered. */
  unhandledQueries(): string[];
  stop(): Promise<void>;
}

/** One message a simulated phone received (Simulator.received). */
export interface PhoneDelivery {
  /** The receiving phone's number. */
  to: string;
  /** The sender's account JID. */
  from: string;
  id: string;
  at: number;
}

export {
  ENDINGS,
  type RateLimitPolicy,
  type RateLimitRefusal,
  type EndingName,
  type ClientVersionPolicy,
  type MediaKind,
  type MediaToSend,
  type ReceivedMedia,
};

/** Adds a CA to the ones TLS clients of this process trust (https and fetch alike). */
export function trustCaInThisProcess(caPem: string): void {
  const current = getCACertificates('default');
  if (!current.includes(caPem)) setDefaultCACertificates([...current, caPem]);
}

/**
 * The one client-side change: Baileys checks the Noise certificate chain against the exported,
 * mutable WA_CERT_DETAILS.PUBLIC_KEY; pointing it at the simulator's root makes it trust the
 * simulator (and nothing else) in this process.
 */
export function trustSimulatorRoot(publicKey: Uint8Array): void {
  if (publicKey.length !== 32) throw new Error(`root key must be 32 bytes, got ${publicKey.length}`);
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(publicKey) as typeof WA_CERT_DETAILS.PUBLIC_KEY;
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const root = options.trustRoot ?? defaultTrustRoot();
  const hub = new Hub({
    qrRefs: options.qrRefs ?? 6,
    replyTimeoutMs: options.replyTimeoutMs ?? 15_000,
    duplicateLogin: options.duplicateLogin ?? 'replace-old',
    lowPreKeys: 5,
    ...(options.clientVersions ? { clientVersions: options.clientVersions } : {}),
  });
  const host = options.host ?? '127.0.0.1';
  hub.media = await MediaHost.start({ host, ...(options.mediaPort ? { port: options.mediaPort } : {}) });
  const listener = await listen(hub, root, host, options.port ?? 0);
  const users = new Map<Account, SimUser>();
  const user = (pn: string, name?: string): SimUser => {
    const account = hub.directory.account(pn, name);
    let simUser = users.get(account);
    if (!simUser) users.set(account, (simUser = new SimUser(account, hub)));
    return simUser;
  };
  const companion = (jid: string) => {
    const found = hub.directory.findDevice(jid);
    if (!found?.companion) throw new Error(`no linked device ${jid}`);
    return found.companion;
  };
  return {
    url: listener.url,
    rootPublicKey: Buffer.from(root.public),
    trustInThisProcess: () => {
      trustSimulatorRoot(root.public);
      trustCaInThisProcess(hub.media.certificates.caPem);
    },
    media: {
      hostname: hub.media.hostname,
      caPem: hub.media.certificates.caPem,
      get: (where) => hub.media.get(where),
      expire: (where) => hub.media.expire(where),
      setAvailable: (available) => hub.media.setAvailable(available),
      setIgnoreRange: (ignore) => hub.media.setIgnoreRange(ignore),
      setDownloadRate: (rate) => hub.media.setDownloadRate(rate),
      stats: () => ({ ...hub.media.stats }),
    },
    user,
    phone: user,
    contact: user,
    users: () => hub.directory.accounts().map((a) => user(a.pn)),
    connections: hub.log,
    stats: () => ({ ...hub.stats }),
    endSession: (device, ending) => hub.end(companion(device), ending),
    refuseLogins: (device, code, times = 1) => hub.refuseLogins(device, code, times),
    setClientVersions: (policy) => hub.clientVersions.set(policy),
    clientVersions: () => hub.clientVersions.get(),
    rateOverlimit: (policy) => hub.rateLimits.set(policy),
    rateLimits: () => ({ policy: hub.rateLimits.get(), refusals: [...hub.rateLimits.refusals] }),
    received: (from) =>
      hub.directory
        .accounts()
        .flatMap((account) =>
          account.mailbox.inbox
            .filter((m) => !m.ownCopy && (from === undefined || m.from === `${from}@s.whatsapp.net`))
            .map((m) => ({ to: account.pn, from: m.from, id: m.id, at: m.at })),
        )
        .sort((a, b) => a.at - b.at),
    problems: () => [...hub.problems],
    unhandledQueries: () => [...hub.unhandledIqs],
    stop: async () => {
      await listener.close();
      await hub.media.stop();
    },
  };
}
