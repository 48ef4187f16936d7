/**
 * Who exists on the simulated WhatsApp: accounts (a phone number, its LID, the phone's Signal
 * device) and the companion devices linked to them (Baileys instances), with everything the
 * server keeps about a companion: noise key, Signal identity, signed pre-key, uploaded pre-keys.
 */
import { randomInt } from 'node:crypto';
import { jidDecode } from '@whiskeysockets/baileys';
import { generateKeyPair, type KeyPair } from '../signal/libsignal.ts';
import { SignalDevice, type WireBundle } from '../signal/device.ts';
import { emptyMailbox, type Mailbox } from '../messaging/records.ts';

export interface CompanionDevice {
  account: Account;
  device: number;
  keyIndex: number;
  /** The client's Noise static key; a login must present the same one. */
  noiseKey: Buffer;
  registrationId: number;
  identityKey: Buffer;
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
  /** Uploaded one-time pre-keys not yet handed out. */
  preKeys: Map<number, Buffer>;
  platform: string;
  pairedAt: number;
  /** Logged out or unlinked: later logins fail with 401. */
  removed: boolean;
}

export function deviceJid(account: Account, device: number): string {
  return device === 0 ? `${account.pn}@s.whatsapp.net` : `${account.pn}:${device}@s.whatsapp.net`;
}

export function deviceLid(account: Account, device: number): string {
  return device === 0 ? `${account.lid}@lid` : `${account.lid}:${device}@lid`;
}

export class Account {
  readonly pn: string;
  readonly lid: string;
  name: string;
  /** The phone's identity key, which also signs its companions' device identities (ADV). */
  readonly identity: KeyPair;
  readonly phone: SignalDevice;
  readonly companions = new Map<number, CompanionDevice>();
  /** What this account's phone received, sent, and got receipts for. */
  readonly mailbox: Mailbox = emptyMailbox();
  #nextDevice = 1;
  #nextKeyIndex = 1;

  constructor(pn: string, lid: string, name: string) {
    this.pn = pn;
    this.lid = lid;
    this.name = name;
    this.identity = generateKeyPair();
    this.phone = new SignalDevice(this.identity);
  }

  get jid(): string {
    return `${this.pn}@s.whatsapp.net`;
  }

  get lidJid(): string {
    return `${this.lid}@lid`;
  }

  /** Linked companions that may still log in. */
  activeCompanions(): CompanionDevice[] {
    return [...this.companions.values()].filter((c) => !c.removed);
  }

  allocateDevice(): { device: number; keyIndex: number } {
    return { device: this.#nextDevice++, keyIndex: this.#nextKeyIndex++ };
  }
}

/** A companion's bundle for a peer's key fetch; hands out (and forgets) one pre-key, if any is left. */
export function companionBundle(companion: CompanionDevice): WireBundle {
  const bundle: WireBundle = {
    registrationId: companion.registrationId,
    identityKey: companion.identityKey,
    signedPreKey: companion.signedPreKey,
  };
  const next = [...companion.preKeys.keys()].sort((a, b) => a - b)[0];
  if (next !== undefined) {
    bundle.preKey = { keyId: next, publicKey: companion.preKeys.get(next)! };
    companion.preKeys.delete(next);
  }
  return bundle;
}

export interface ResolvedDevice {
  account: Account;
  device: number;
  /** Set when the device is a linked companion (device ≠ 0). */
  companion?: CompanionDevice;
}

export class Directory {
  readonly #byPn = new Map<string, Account>();
  readonly #byLid = new Map<string, Account>();

  /** The account for a phone number, created on first use. */
  account(pn: string, name?: string): Account {
    const digits = pn.replace(/^\+/, '').split('@')[0]!.split(':')[0]!;
    if (!/^\d{5,15}$/.test(digits)) throw new Error(`not a phone number: ${pn}`);
    let account = this.#byPn.get(digits);
    if (!account) {
      account = new Account(digits, this.#newLid(), name ?? `User ${digits.slice(-4)}`);
      this.#byPn.set(digits, account);
      this.#byLid.set(account.lid, account);
    } else if (name) {
      account.name = name;
    }
    return account;
  }

  accounts(): Account[] {
    return [...this.#byPn.values()];
  }

  findByPn(pn: string): Account | undefined {
    return this.#byPn.get(pn);
  }

  /** The account behind a PN or LID JID, with or without a device part. */
  findUser(jid: string): Account | undefined {
    const decoded = jidDecode(jid);
    if (!decoded?.user) return undefined;
    if (decoded.server === 'lid') return this.#byLid.get(decoded.user);
    if (decoded.server === 's.whatsapp.net') return this.#byPn.get(decoded.user);
    return undefined;
  }

  /** The device a JID names (device 0 when the JID has none). */
  findDevice(jid: string): ResolvedDevice | undefined {
    const account = this.findUser(jid);
    if (!account) return undefined;
    const device = jidDecode(jid)?.device ?? 0;
    if (device === 0) return { account, device };
    const companion = account.companions.get(device);
    return companion && !companion.removed ? { account, device, companion } : undefined;
  }

  #newLid(): string {
    // Real LIDs are opaque 14–15 digit numbers unrelated to the phone number.
    for (;;) {
      const lid =
        String(randomInt(1, 9)) +
        String(randomInt(0, 1e7)).padStart(7, '0') +
        String(randomInt(0, 1e7)).padStart(7, '0');
      if (!this.#byLid.has(lid)) return lid;
    }
  }
}
