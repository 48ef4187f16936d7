/**
 * The fenced journal, `<prefix>/<clinic>/<channel>/journal/<seq>`: one sealed record per
 * Baileys key transaction or creds save, in order. Why a stale worker cannot write to it
 * (docs/state-store.md, "Fencing"):
 *
 * - every slot is written with If-None-Match, so it can be written once;
 * - a new lease holder reads the journal to its end, then claims the next free slot with a
 *   fence record; a stale holder's next append meets an existing slot and the store itself
 *   refuses it (FencedError), whatever that worker believes about its lease;
 * - a slot holding a record of this worker's own epoch is its own earlier write that landed
 *   although its answer was lost: only this worker writes under its epoch, so the record is
 *   adopted as durable (as a restart would read it) and the next record goes after it.
 *
 * Records are appended one at a time, each after every earlier one, and memory changes only
 * after the store accepted the record.
 */
import type { AuthenticationCreds } from '@whiskeysockets/baileys';
import { JOURNAL_DIR, journalSlotName, parseSequencedName } from '../../../contract/state-layout.ts';
import { decodeJson, encodeJson } from './codec.ts';
import type { KeyMutations } from './key-mutations.ts';
import type { ChannelLease } from './lease.ts';
import { PreconditionFailedError } from './object-store.ts';
import type { SealedObjects } from './sealed-objects.ts';
import { FencedError, StateIntegrityError } from './state-errors.ts';

export interface JournalRecord {
  v: 1;
  epoch: number;
  at: number;
  fence?: true;
  creds?: AuthenticationCreds;
  keys?: KeyMutations;
}

export class FencedJournal {
  private readonly objects: SealedObjects;
  private readonly lease: ChannelLease;
  /** Takes a record of ours that landed unnoticed into the durable state. */
  private readonly adopt: (record: JournalRecord) => void;
  private last = 0;
  private writes: Promise<unknown> = Promise.resolve();
  private fenced = false;

  constructor(objects: SealedObjects, lease: ChannelLease, adopt: (record: JournalRecord) => void) {
    this.objects = objects;
    this.lease = lease;
    this.adopt = adopt;
  }

  /** The sequence number of the last durable record. */
  get lastSeq(): number {
    return this.last;
  }

  /** Whether a write was refused because another worker took over (no later write is tried). */
  get isFenced(): boolean {
    return this.fenced;
  }

  /** Continues the journal after slot `lastSeq`, the last one read (state-reader.ts). */
  resumeAfter(lastSeq: number): void {
    this.last = lastSeq;
  }

  /**
   * Claims the next free slot with a fence record carrying `creds`: from now on no older holder
   * can append. Throws FencedError when another record landed there first (the previous
   * holder's last write); the caller then reads the journal again and fences after it.
   */
  async fence(creds: AuthenticationCreds): Promise<void> {
    // A record of our own epoch already in the slot can only be this same fence, written by an
    // earlier attempt whose answer was lost.
    await this.writeSlot(this.last + 1, {
      v: 1,
      epoch: this.lease.epoch,
      at: Date.now(),
      fence: true,
      creds,
    });
    this.last++;
  }

  /**
   * Appends one record, in order, after every earlier one. `make` returns null when the record
   * would change nothing durable: then nothing is written. `apply` runs only once the store
   * accepted the record, so memory never runs ahead of the store.
   */
  append(make: () => Omit<JournalRecord, 'v' | 'epoch' | 'at'> | null, apply: () => void): Promise<void> {
    const run = async () => {
      if (this.fenced) throw new FencedError(this.objects.key(JOURNAL_DIR));
      this.lease.assertValid();
      for (;;) {
        const body = make(); // again after adopting a landed record: it may have made this one moot
        if (!body) return;
        const record: JournalRecord = { v: 1, epoch: this.lease.epoch, at: Date.now(), ...body };
        let landed: JournalRecord | undefined;
        try {
          landed = await this.writeSlot(this.last + 1, record);
        } catch (err) {
          if (err instanceof FencedError) this.fenced = true;
          throw err;
        }
        if (!landed) break;
        this.last++;
        this.adopt(landed);
      }
      this.last++;
      apply();
    };
    const result = this.writes.then(run, run);
    this.writes = result.catch(() => undefined);
    return result;
  }

  /** Resolves when every append started so far has finished, whatever its outcome. */
  async settled(): Promise<void> {
    await this.writes;
  }

  /** Resolves when every write started so far is durable; throws if the journal is fenced. */
  async flush(): Promise<void> {
    await this.writes;
    if (this.fenced) throw new FencedError(this.objects.key(JOURNAL_DIR));
  }

  /**
   * Writes one slot. Returns undefined when `record` is in it, or the record found there when that
   * is an earlier write of this same epoch: ours, landed although its answer was lost. A slot
   * holding another epoch's record means another worker has taken over: FencedError.
   */
  private async writeSlot(seq: number, record: JournalRecord): Promise<JournalRecord | undefined> {
    const name = journalSlotName(seq);
    const key = this.objects.key(name);
    try {
      await this.objects.store.put(key, this.objects.seal(name, encodeJson(record)), { ifAbsent: true });
      return undefined;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      const stored = await this.objects.store.get(key);
      if (!stored) throw new FencedError(key);
      const found = decodeJson<JournalRecord>(this.objects.open(name, stored.body));
      if (found.epoch === record.epoch) return found;
      throw new FencedError(key);
    }
  }
}

/** Journal reads kept in flight at once while a start replays the journal. */
const REPLAY_READ_AHEAD = 8;

/**
 * Reads, in order, every journal record after `afterSeq` among the channel's `names` (relative to
 * its prefix); returns the last sequence number read. A gap is an integrity error: a record of the
 * state would be skipped. Shared by the worker's load and the `wa state` checks (no lease needed).
 *
 * Up to 8 reads are in flight at once (each a GET, a round trip to S3 that would otherwise be
 * waited for one after another), and each record is applied in order once the ones before it
 * are; the first read that fails is thrown. Records are applied only once `applyAfter` (the
 * snapshot, read beside them) is in.
 */
export async function replayJournal(
  objects: SealedObjects,
  names: string[],
  afterSeq: number,
  apply: (record: JournalRecord) => void,
  applyAfter?: Promise<unknown>,
): Promise<number> {
  const slots = names
    .map((name) => ({ name, parsed: parseSequencedName(name) }))
    .filter((s) => s.parsed?.dir === JOURNAL_DIR && s.parsed.seq > afterSeq)
    .map((s) => ({ name: s.name, seq: s.parsed!.seq }))
    .sort((a, b) => a.seq - b.seq);
  slots.forEach((slot, i) => {
    if (slot.seq !== afterSeq + 1 + i) {
      throw new StateIntegrityError(
        `journal slot ${journalSlotName(afterSeq + 1 + i)} under ${objects.base} is missing (found ${slot.name})`,
      );
    }
  });
  const reads: Promise<Uint8Array>[] = [];
  const readAhead = (upTo: number) => {
    for (let i = reads.length; i < Math.min(upTo, slots.length); i++) {
      const read = objects.read(slots[i]!.name);
      // Awaited in order below; one failing while an earlier one is awaited is not "unhandled".
      read.catch(() => undefined);
      reads.push(read);
    }
  };
  readAhead(REPLAY_READ_AHEAD);
  await applyAfter;
  for (let i = 0; i < slots.length; i++) {
    const body = await reads[i]!;
    readAhead(i + 1 + REPLAY_READ_AHEAD);
    apply(decodeJson<JournalRecord>(body));
  }
  return afterSeq + slots.length;
}
