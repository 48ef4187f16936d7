/**
 * A typed client for the control API, for processes that run the simulator separately
 * (wa-sim/main.ts): worker tests, the demo, benchmarks.
 */
import type {
  ChatStateRecord,
  ReceiptPolicy,
  ReceiptRecord,
  ReceivedMessage,
  SentMessage,
  MessagingStats,
} from '../messaging/records.ts';
import type { MediaToSend, ReceivedMedia } from '../media/media-message.ts';
import type { ClientVersionPolicy } from '../server/client-versions.ts';
import type { RateLimitPolicy, RateLimitRefusal } from '../server/rate-limits.ts';
import type { ConnectionRecord, Overlap } from '../server/connection-log.ts';
import type { EndingName } from '../server/endings.ts';
import type { DeviceInfo, PhoneDelivery, SimGroup } from '../simulator.ts';
import type { RemoteAction } from './http-api.ts';
import { waitUntil } from '../wait.ts';

export interface UserInfo {
  pn: string;
  lid: string;
  jid: string;
  lidJid: string;
  name: string;
  devices: DeviceInfo[];
}

/** A received attachment as the control API reports it: its bytes by size and SHA-256 (hex). */
export type RemoteMedia = Omit<ReceivedMedia, 'data'> & { size?: number; sha256?: string };

export type RemoteMessage = Omit<ReceivedMessage, 'message' | 'media'> & {
  media?: RemoteMedia;
  /** A reaction, edit or revoke, or the quoted id and mentions of a text. */
  action?: RemoteAction;
};

export interface ConnectionsView {
  records: ConnectionRecord[];
  live: number[];
  overlaps: Overlap[];
  maxConcurrent?: number;
}

export class SimulatorClientError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class SimulatorClient {
  readonly baseUrl: string;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
  }

  info(): Promise<{
    url: string;
    rootPublicKey: string;
    mediaHost: string;
    endings: Record<EndingName, number>;
  }> {
    return this.#call('GET', '/info');
  }

  user(pn: string, name?: string): Promise<UserInfo> {
    return this.#call('POST', '/users', { pn, ...(name ? { name } : {}) });
  }

  getUser(pn: string): Promise<UserInfo> {
    return this.#call('GET', `/users/${pn}`);
  }

  async scanQr(pn: string, qr: string): Promise<string> {
    return (await this.#call<{ device: string }>('POST', `/users/${pn}/scan-qr`, { qr })).device;
  }

  async enterPairingCode(pn: string, code: string): Promise<string> {
    return (await this.#call<{ device: string }>('POST', `/users/${pn}/pairing-code`, { code })).device;
  }

  sendText(
    pn: string,
    to: string,
    text: string,
    options: { addressing?: 'pn' | 'lid'; id?: string } = {},
  ): Promise<SentMessage> {
    return this.#call('POST', `/users/${pn}/messages`, { to, text, ...options });
  }

  /** The phone encrypts, uploads and sends a file (see SimUser.sendMedia). */
  sendMedia(pn: string, to: string, media: MediaToSend): Promise<SentMessage> {
    const { data, ...rest } = media;
    return this.#call('POST', `/users/${pn}/media`, {
      to,
      ...rest,
      data: Buffer.from(data).toString('base64'),
    });
  }

  /** Takes the media host down (every request 503) or brings it back. */
  setMediaAvailable(available: boolean): Promise<unknown> {
    return this.#call('PUT', '/media/available', { available });
  }

  /** Forgets an upload, as WhatsApp does after a while. */
  async expireMedia(url: string): Promise<boolean> {
    return (await this.#call<{ expired: boolean }>('POST', '/media/expire', { url })).expired;
  }

  inbox(pn: string): Promise<RemoteMessage[]> {
    return this.#call('GET', `/users/${pn}/inbox`);
  }

  receipts(pn: string): Promise<ReceiptRecord[]> {
    return this.#call('GET', `/users/${pn}/receipts`);
  }

  /** "typing…", "recording…", "paused" that companions showed this user. */
  chatStates(pn: string): Promise<ChatStateRecord[]> {
    return this.#call('GET', `/users/${pn}/chat-states`);
  }

  /** The user's phone creates a group with these members (phone numbers). */
  createGroup(pn: string, subject: string, members: string[]): Promise<SimGroup> {
    return this.#call('POST', `/users/${pn}/groups`, { subject, members });
  }

  setReceiptPolicy(pn: string, policy: ReceiptPolicy): Promise<unknown> {
    return this.#call('PUT', `/users/${pn}/receipt-policy`, { policy });
  }

  async endSession(device: string, ending: EndingName): Promise<number> {
    return (
      await this.#call<{ ended: number }>('POST', `/devices/${encodeURIComponent(device)}/end`, { ending })
    ).ended;
  }

  async refuseLogins(device: string, code: number, times = 1): Promise<void> {
    await this.#call('POST', `/devices/${encodeURIComponent(device)}/refuse-logins`, { code, times });
  }

  /** Which WhatsApp Web versions may log in from now on; `{}` lets every version in. */
  setClientVersions(policy: ClientVersionPolicy): Promise<ClientVersionPolicy> {
    return this.#call('PUT', '/client-versions', policy);
  }

  clientVersions(): Promise<ClientVersionPolicy> {
    return this.#call('GET', '/client-versions');
  }

  /** WhatsApp's 429 rate-overlimit on device queries (Simulator.rateOverlimit); `{}` turns it off. */
  rateOverlimit(policy: RateLimitPolicy): Promise<{ policy: RateLimitPolicy; refusals: RateLimitRefusal[] }> {
    return this.#call('PUT', '/rate-overlimit', policy);
  }

  rateLimits(): Promise<{ policy: RateLimitPolicy; refusals: RateLimitRefusal[] }> {
    return this.#call('GET', '/rate-overlimit');
  }

  /** What the simulated phones received from companions, with times (Simulator.received). */
  async received(from?: string): Promise<PhoneDelivery[]> {
    return (await this.#call<{ received: PhoneDelivery[] }>('GET', `/received${from ? `?from=${from}` : ''}`))
      .received;
  }

  connections(device?: string): Promise<ConnectionsView> {
    return this.#call('GET', `/connections${device ? `?device=${encodeURIComponent(device)}` : ''}`);
  }

  stats(): Promise<MessagingStats> {
    return this.#call('GET', '/stats');
  }

  problems(): Promise<{ problems: string[]; unhandledQueries: string[] }> {
    return this.#call('GET', '/problems');
  }

  /** Polls the user's inbox until a message matches. */
  waitForMessage(
    pn: string,
    match: (m: RemoteMessage) => boolean,
    timeoutMs = 10_000,
  ): Promise<RemoteMessage> {
    return waitUntil(async () => (await this.inbox(pn)).find(match), timeoutMs, `a message to ${pn}`, 50);
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const payload = (await res.json()) as T & { error?: string };
    if (!res.ok) throw new SimulatorClientError(res.status, payload.error ?? `HTTP ${res.status}`);
    return payload;
  }
}
