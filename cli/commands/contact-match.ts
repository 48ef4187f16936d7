/**
 * Which stored events are about one contact (a data-subject request, docs/operations.md). A
 * contact has up to two JIDs in WhatsApp: its phone number (`<digits>@s.whatsapp.net`) and a
 * LID (`<id>@lid`); an event may carry either. Inbound messages carry both as pairs (`chat` /
 * `chatAlt`, `sender` / `senderAlt`), so the contact's JIDs are learnt from them first and the
 * events matched against all of them after: a receipt that names only the LID is still found.
 *
 * Group JIDs are never learnt: a group's message is the contact's only when the contact sent
 * it (`sender`), and the other members' messages in that group are theirs, not the contact's.
 */

/** The fields of a stored msg.in or msg.update event that can name a contact. */
export interface ContactFields {
  chat?: unknown;
  chatAlt?: unknown;
  sender?: unknown;
  senderAlt?: unknown;
  participant?: unknown;
}

/** `user[:device]@server` → `user@server`, lower-cased; undefined for anything else. */
export function normalJid(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const at = value.lastIndexOf('@');
  if (at <= 0) return undefined;
  const user = value.slice(0, at).split(':')[0]!;
  const server = value.slice(at + 1).toLowerCase();
  return user && server ? `${user}@${server}`.toLowerCase() : undefined;
}

/** A contact as the engineer names it: an E.164 number (`+55 11 9…` or digits) or a JID. */
export function contactJid(input: string): string {
  const trimmed = input.trim();
  if (trimmed.includes('@')) {
    const jid = normalJid(trimmed);
    if (!jid || jid.endsWith('@g.us')) throw new Error(`${input} is not a contact's JID`);
    return jid;
  }
  const digits = trimmed.replace(/[\s()+-]/g, '');
  if (!/^\d{6,15}$/.test(digits)) throw new Error(`${input} is neither an E.164 phone number nor a JID`);
  return `${digits}@s.whatsapp.net`;
}

/** The JIDs of one contact, grown from the pairs that inbound messages carry. */
export class ContactJids {
  readonly #jids = new Set<string>();

  constructor(initial: string[]) {
    for (const j of initial) this.#jids.add(contactJid(j));
  }

  get all(): string[] {
    return [...this.#jids].sort();
  }

  /** Learns the other half of a pair (`chat`/`chatAlt`, `sender`/`senderAlt`) that names the contact. */
  learn(event: ContactFields): void {
    for (const [a, b] of [
      [event.chat, event.chatAlt],
      [event.sender, event.senderAlt],
    ] as const) {
      const ja = normalJid(a);
      const jb = normalJid(b);
      if (!ja || !jb || ja.endsWith('@g.us') || jb.endsWith('@g.us')) continue;
      if (this.#jids.has(ja)) this.#jids.add(jb);
      else if (this.#jids.has(jb)) this.#jids.add(ja);
    }
  }

  /** Whether the event names the contact in any of its fields. */
  matches(event: ContactFields): boolean {
    return [event.chat, event.chatAlt, event.sender, event.senderAlt, event.participant].some((v) => {
      const j = normalJid(v);
      return j !== undefined && this.#jids.has(j);
    });
  }
}
