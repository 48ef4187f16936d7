/**
 * The contacts the channel has talked to, kept durably so that the daily cap on first messages
 * (new-contact-cap.ts) survives restarts: each contact (its JID without device) with when it was
 * first known and whether that was a message the channel sent (a first message, counted by the
 * cap) or one it received (a contact who wrote first costs nothing).
 *
 * Phone numbers are personal data: the whole set is one object sealed under the channel's data
 * key (the auth state's envelope encryption), never written in plaintext. Writes are coalesced:
 * one in flight at a time, and `flush()` resolves once everything learnt before it is stored.
 * Bounded: past `maxContacts`, the oldest contacts not first-sent-to within 24 h are forgotten
 * (they would only count as new again, which errs on the cautious side).
 */
import type { KnownContactsView } from './new-contact-cap.ts';
import { DAY_MS } from './new-contact-cap.ts';

/** Where the sealed object is read from and written to (the auth store binds it). */
export interface SealedBlob {
  read(): Promise<Uint8Array | undefined>;
  write(body: Uint8Array): Promise<void>;
}

interface Entry {
  /** When the contact became known (ms since the epoch). */
  t: number;
  /** 1 when that was a message the channel sent: a first message. */
  s?: 1;
}

interface Stored {
  v: 1;
  contacts: Record<string, Entry>;
}

export const KNOWN_CONTACTS_MAX = 100_000;

/** `15550002222:3@s.whatsapp.net` → `15550002222@s.whatsapp.net`: one contact across devices. */
export function contactOf(jid: string): string {
  const at = jid.indexOf('@');
  if (at < 0) return jid;
  const user = jid.slice(0, at).split(':')[0]!.split('_')[0]!;
  return `${user}${jid.slice(at)}`;
}

export class KnownContacts implements KnownContactsView {
  private readonly contacts: Map<string, Entry>;
  private readonly blob: SealedBlob;
  private readonly max: number;
  private dirty = false;
  private writing: Promise<void> | undefined;

  private constructor(blob: SealedBlob, contacts: Map<string, Entry>, max: number) {
    this.blob = blob;
    this.contacts = contacts;
    this.max = max;
  }

  static async open(blob: SealedBlob, max = KNOWN_CONTACTS_MAX): Promise<KnownContacts> {
    const body = await blob.read();
    const contacts = new Map<string, Entry>();
    if (body) {
      const stored = JSON.parse(new TextDecoder().decode(body)) as Stored;
      for (const [contact, entry] of Object.entries(stored.contacts)) contacts.set(contact, entry);
    }
    return new KnownContacts(blob, contacts, max);
  }

  /** Kept in memory only: for a worker without a state store (tests). */
  static inMemory(): KnownContacts {
    let body: Uint8Array | undefined;
    const blob: SealedBlob = {
      read: async () => body,
      write: async (b) => void (body = b),
    };
    return new KnownContacts(blob, new Map(), KNOWN_CONTACTS_MAX);
  }

  get size(): number {
    return this.contacts.size;
  }

  has(contact: string): boolean {
    return this.contacts.has(contactOf(contact));
  }

  firstSendsSince(since: number): number[] {
    const times: number[] = [];
    for (const entry of this.contacts.values()) if (entry.s && entry.t > since) times.push(entry.t);
    return times;
  }

  /**
   * A contact wrote to the channel: known from now on, and never a first message. Returns
   * whether it was new (the caller then stores it: a reply after a restart must still find it).
   */
  receivedFrom(jid: string, now: number): boolean {
    const contact = contactOf(jid);
    if (this.contacts.has(contact)) return false;
    this.contacts.set(contact, { t: now });
    this.changed(now);
    return true;
  }

  /** The channel sent to a contact: a first message if it was not known. */
  sentTo(jid: string, now: number): void {
    const contact = contactOf(jid);
    if (this.contacts.has(contact)) return;
    this.contacts.set(contact, { t: now, s: 1 });
    this.changed(now);
  }

  /** Resolves once everything learnt so far is stored; rejects if the write failed. */
  async flush(): Promise<void> {
    while (this.dirty || this.writing) {
      if (!this.writing) this.startWrite();
      await this.writing;
    }
  }

  private changed(now: number): void {
    this.dirty = true;
    this.trim(now);
  }

  private startWrite(): void {
    this.dirty = false;
    const stored: Stored = { v: 1, contacts: Object.fromEntries(this.contacts) };
    this.writing = this.blob
      .write(new TextEncoder().encode(JSON.stringify(stored)))
      .catch((err: unknown) => {
        this.dirty = true; // the next flush tries again
        throw err;
      })
      .finally(() => (this.writing = undefined));
  }

  private trim(now: number): void {
    if (this.contacts.size <= this.max) return;
    // Map order is insertion order: the oldest first. First messages of the last day stay (the cap counts them).
    for (const [contact, entry] of this.contacts) {
      if (this.contacts.size <= this.max) return;
      if (entry.s && entry.t >= now - DAY_MS) continue;
      this.contacts.delete(contact);
    }
  }
}
