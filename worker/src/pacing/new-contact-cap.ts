/**
 * The daily cap on first messages: how many contacts the number may write to for the first time
 * in any 24 hours (a rolling window, so midnight brings no burst). Sending to many strangers is
 * what gets a number banned fastest; writing to someone who already talked to the channel, or
 * whom it wrote before, costs nothing here.
 *
 * Pure, over the known contacts (known-contacts.ts keeps them durably): each contact with the
 * time it was first talked to. A first message in flight holds a place (`reserve`) until it
 * went (`confirm`) or did not (`cancel`), so concurrent sends cannot overrun the cap.
 */
export const DAY_MS = 24 * 60 * 60 * 1000;

export type CapDecision = { ok: true; newContact: boolean } | { ok: false; retryAfterMs: number };

export interface KnownContactsView {
  /** Whether the channel has talked to this contact (either way). */
  has(contact: string): boolean;
  /** When contacts were first written to by this channel, for those after `since` (exclusive). */
  firstSendsSince(since: number): number[];
}

export class NewContactCap {
  private readonly perDay: number;
  private readonly known: KnownContactsView;
  private readonly reserved = new Map<string, number>();

  constructor(perDay: number, known: KnownContactsView) {
    if (!Number.isInteger(perDay) || perDay < 0) throw new Error('perDay must be a non-negative integer');
    this.perDay = perDay;
    this.known = known;
  }

  /** Places held by first messages in flight. */
  get inFlight(): number {
    return this.reserved.size;
  }

  /** First messages sent in the 24 h before `now` (not counting those in flight). */
  usedAt(now: number): number {
    return this.known.firstSendsSince(now - DAY_MS).length;
  }

  /**
   * May a send to `contact` go now? A known contact always may. A new one may while fewer than
   * `perDay` first messages went (or are going) in the last 24 h; else the answer says when the
   * oldest of them leaves the window.
   */
  reserve(contact: string, now: number): CapDecision {
    if (this.known.has(contact)) return { ok: true, newContact: false };
    // Two sends to one new contact at once: the second rides on the first one's place.
    if (this.reserved.has(contact)) {
      this.reserved.set(contact, this.reserved.get(contact)! + 1);
      return { ok: true, newContact: true };
    }
    const sent = this.known.firstSendsSince(now - DAY_MS).sort((a, b) => a - b);
    const used = sent.length + this.reserved.size;
    if (used < this.perDay) {
      this.reserved.set(contact, 1);
      return { ok: true, newContact: true };
    }
    // The place frees when the oldest counted first message is 24 h old; places held by sends in
    // flight free sooner or become such messages, so the oldest stored one is the honest answer.
    const oldest = sent[used - this.perDay];
    const retryAfterMs = oldest === undefined ? 60_000 : Math.max(1_000, oldest + DAY_MS - now);
    return { ok: false, retryAfterMs };
  }

  /** The first message went: the contact is now known (the caller records it) and the place is used. */
  confirm(contact: string): void {
    this.release(contact);
  }

  /** The first message did not go: its place is free again. */
  cancel(contact: string): void {
    this.release(contact);
  }

  private release(contact: string): void {
    const holders = this.reserved.get(contact);
    if (holders === undefined) return;
    if (holders > 1) this.reserved.set(contact, holders - 1);
    else this.reserved.delete(contact);
  }
}
