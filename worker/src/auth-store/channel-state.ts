/**
 * A channel's Baileys auth state (creds + Signal keys) in an object store, encrypted: the
 * `AuthenticationState` Baileys uses, as a thin facade over the modules that each do one job:
 *
 *   data-key.ts        the KMS-wrapped data key record (and when a channel may get a new one)
 *   sealed-objects.ts  every other object sealed under it, bound to its key
 *   journal.ts         the fenced journal: one record per transaction, written once per slot
 *   snapshots.ts       snapshot compaction and retention
 *   state-reader.ts    reading the stored state: the latest snapshot and the journal after it
 *   quarantine.ts      quarantine and erasure
 *
 * The object layout is contract/state-layout.ts; docs/state-store.md explains the guarantees:
 * - keys.set() resolves only after its whole transaction is one durable journal record;
 *   memory (what keys.get returns) changes only after that, so nothing runs ahead of S3.
 * - A read that fails throws. Fresh creds are made only when the channel provably has no
 *   state at all; they are written durably (in the fence record) before anything can use them.
 * - Creds and the pre-keys they count cannot diverge: on load the pre-key counters are raised
 *   past every stored pre-key, so an id is never handed out twice.
 */
import {
  initAuthCreds,
  type AuthenticationCreds,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from '@whiskeysockets/baileys';
import {
  channelStatePrefix,
  DATA_KEY_OBJECT,
  type ChannelStateLocation,
} from '../../../contract/state-layout.ts';
import { decodeJson, encodeJson, reviveKey } from './codec.ts';
import { loadOrCreateDataKey } from './data-key.ts';
import { CommitAbandonedError, GroupCommit, type CommitBatch } from './group-commit.ts';
import { FencedJournal, type JournalRecord } from './journal.ts';
import type { DataKeyProvider, EncryptionContext } from './key-provider.ts';
import {
  applyMutations,
  changedMutations,
  raisePreKeyCounters,
  type KeyMap,
  type KeyMutations,
} from './key-mutations.ts';
import type { ChannelLease } from './lease.ts';
import { LeaseLostError } from './lease-record.ts';
import type { ObjectStore } from './object-store.ts';
import { listLiveState } from './live-state.ts';
import { copyToQuarantine, removeStateObjects } from './quarantine.ts';
import { SealedObjects } from './sealed-objects.ts';
import { pruneCovered, writeSnapshot } from './snapshots.ts';
import { readStoredState } from './state-reader.ts';
import { FencedError } from './state-errors.ts';

export interface ChannelStateOptions {
  store: ObjectStore;
  keyProvider: DataKeyProvider;
  lease: ChannelLease;
  prefix: string;
  clinic: string;
  channel: string;
  /** Write a snapshot after this many journal records (default 500). */
  compactEvery?: number;
  /** Journal objects are deleted only when older than this (default: 2 × lease TTL, see docs/state-store.md). */
  keepJournalMs?: number;
  onCompactionError?: (err: unknown) => void;
}

/** How often the fence is tried again when another record keeps landing in its slot. */
const FENCE_ATTEMPTS = 6;

export class ChannelState {
  /** The channel's prefix, `<prefix>/<clinic>/<channel>/`. */
  readonly base: string;
  private readonly options: ChannelStateOptions;
  private readonly location: ChannelStateLocation;
  private readonly context: EncryptionContext;
  private readonly compactEvery: number;
  private readonly keepJournalMs: number;
  /** Both exist once open() has read the data key; a new data key (after erasure) replaces them. */
  private objects: SealedObjects | undefined;
  private journal: FencedJournal | undefined;
  /** The live creds object Baileys mutates. */
  creds!: AuthenticationCreds;
  private durableKeys: KeyMap = {};
  /** The creds as last written (encoded), so a creds.update that changes nothing writes nothing. */
  private durableCreds: Uint8Array | undefined;
  private snapshotSeq = 0;
  /** The compaction running now, if any. */
  private compaction: Promise<void> | undefined;
  private registered = false;
  /** Every key transaction and creds save goes through one group commit (group-commit.ts). */
  private readonly commits = new GroupCommit({ write: (batch) => this.writeBatch(batch) });

  constructor(options: ChannelStateOptions) {
    this.options = options;
    this.compactEvery = options.compactEvery ?? 500;
    this.keepJournalMs = options.keepJournalMs ?? 120_000;
    this.location = { prefix: options.prefix, clinicId: options.clinic, channelId: options.channel };
    this.base = channelStatePrefix(this.location);
    this.context = { clinic: options.clinic, channel: options.channel };
  }

  /** Loads (or, for a channel with no state at all, creates) the state. The lease must be held. */
  async open(): Promise<void> {
    const { store, keyProvider, lease } = this.options;
    lease.assertValid();
    // The first listing needs no key: it runs while KMS decrypts the data key (thrown below).
    const listing = listLiveState(store, this.base);
    listing.catch(() => undefined);
    const dataKey = await loadOrCreateDataKey({ store, keyProvider, base: this.base, context: this.context });
    this.objects = new SealedObjects({ store, dataKey, ...this.context, base: this.base });
    this.journal = new FencedJournal(this.objects, lease, (landed) => this.adoptLanded(landed));
    for (let attempt = 1; ; attempt++) {
      await this.load(this.objects, this.journal, attempt === 1 ? listing : undefined);
      try {
        // The fence: from now on, no older holder can append to this journal.
        await this.journal.fence(this.creds);
        this.durableCreds = encodeJson(this.creds);
        return;
      } catch (err) {
        // A record landed in the slot meanwhile (the previous holder's last write): read again.
        if (!(err instanceof FencedError) || attempt >= FENCE_ATTEMPTS) throw err;
      }
    }
  }

  /** Whether the creds are of a linked device. */
  isRegistered(): boolean {
    return this.registered || Boolean(this.creds?.me?.id);
  }

  /** The latest snapshot, then every journal record after it (`listing`: listed already). */
  private async load(
    objects: SealedObjects,
    journal: FencedJournal,
    listing?: ReturnType<typeof listLiveState>,
  ): Promise<void> {
    const live = await (listing ?? listLiveState(objects.store, this.base));
    const stored = await readStoredState(
      objects,
      live.map((o) => o.key.slice(this.base.length)),
    );
    journal.resumeAfter(stored.lastSeq);
    this.snapshotSeq = stored.snapshotSeq;
    this.durableKeys = stored.keys;
    this.creds = stored.creds ?? initAuthCreds();
    this.registered = Boolean(this.creds.me?.id);
    raisePreKeyCounters(this.creds, this.durableKeys);
  }

  /** Counts a record of ours that landed unnoticed as durable, as a restart would read it. */
  private adoptLanded(record: JournalRecord): void {
    if (record.keys) applyMutations(this.durableKeys, record.keys);
    if (record.creds) {
      this.durableCreds = encodeJson(record.creds);
      if (record.creds.me?.id) this.registered = true;
    }
  }

  /**
   * Writes one group-commit batch as one journal record, then compacts when enough records piled
   * up since the last snapshot. Baileys rewrites unchanged keys on every message (LID mappings,
   * device lists); what changes nothing durable is left out, and a batch that changes nothing
   * needs no S3 write. Compared in write order, against what earlier records made durable.
   */
  private writeBatch({ keys, creds }: CommitBatch): Promise<void> {
    const journal = this.opened().journal;
    return journal.append(
      () => {
        const changed = keys ? changedMutations(this.durableKeys, keys) : null;
        const credsChanged = creds && !(this.durableCreds && Buffer.compare(creds, this.durableCreds) === 0);
        if (!changed && !credsChanged) return null;
        return {
          ...(changed ? { keys: changed } : {}),
          ...(credsChanged ? { creds: decodeJson<AuthenticationCreds>(creds) } : {}),
        };
      },
      () => {
        if (keys) applyMutations(this.durableKeys, keys);
        if (creds) {
          this.durableCreds = creds;
          if (decodeJson<AuthenticationCreds>(creds).me?.id) this.registered = true;
        }
        if (journal.lastSeq - this.snapshotSeq >= this.compactEvery) void this.compact();
      },
    );
  }

  private readKeys = async <T extends keyof SignalDataTypeMap>(type: T, ids: string[]) => {
    const bucket = this.durableKeys[type] ?? {};
    const overlay = this.commits.busy;
    const out: { [id: string]: SignalDataTypeMap[T] } = {};
    for (const id of ids) {
      // A change not yet durable is what the next transaction must build on (group-commit.ts).
      const pending = overlay ? this.commits.read(type, id) : undefined;
      const value = pending?.found ? pending.value : bucket[id];
      if (value !== undefined && value !== null) out[id] = reviveKey(type, value) as SignalDataTypeMap[T];
    }
    return out;
  };

  /** Freezes a transaction's values now: the record must be exactly what was asked, even if callers mutate later. */
  private static frozen(data: unknown): KeyMutations | undefined {
    const mutations = data as KeyMutations;
    if (Object.keys(mutations).length === 0) return undefined;
    return decodeJson<KeyMutations>(encodeJson(mutations));
  }

  /** The Signal key store (Baileys batches each transaction into one set()): set() resolves once durable. */
  readonly keys: SignalKeyStore = {
    get: this.readKeys,
    set: async (data) => {
      const keys = ChannelState.frozen(data);
      if (keys) await this.commits.add({ keys });
    },
  };

  /**
   * The same store for a socket whose outgoing frames wait for `whenDurable()`: set() returns as
   * soon as the change is visible to reads, so the next message can decrypt while this one's
   * write is in flight, and many transactions share one write (group-commit.ts).
   */
  readonly pipeline = {
    keys: {
      get: this.readKeys,
      set: async (data) => {
        const keys = ChannelState.frozen(data);
        if (!keys) return;
        if (this.commits.hasFailed) throw new CommitAbandonedError('an earlier commit failed');
        void this.commits.add({ keys });
      },
    } satisfies SignalKeyStore as SignalKeyStore,
    /** Resolves when every change so far is durable (rejects if one failed); undefined when none is pending. */
    whenDurable: (): Promise<void> | undefined => this.commits.whenDurable(),
    /** The next record is written only after `p` resolves (an inbound message's JetStream ack). */
    commitAfter: (p: Promise<unknown>): void => this.commits.commitAfter(p),
    /** A new socket: after a failed commit, take changes again, from the durable state. */
    reset: (): void => this.commits.reset(),
  };

  /** Saves the whole current creds object (call on Baileys' creds.update); resolves once durable. */
  saveCreds(): Promise<void> {
    return this.commits.add({ creds: encodeJson(this.creds) });
  }

  /** Resolves when every write started so far is durable; throws if the last one failed. */
  async flush(): Promise<void> {
    await this.commits.settled();
    return this.opened().journal.flush();
  }

  /**
   * Writes a snapshot and removes journal records it covers that are old enough to be safe to
   * remove. A call while a compaction runs waits for that one (it does not start a second): when
   * it resolves, a compaction has finished, so a caller can rely on its effect.
   */
  compact(): Promise<void> {
    this.compaction ??= this.compactOnce().finally(() => (this.compaction = undefined));
    return this.compaction;
  }

  private async compactOnce(): Promise<void> {
    try {
      const { objects, journal } = this.opened();
      await this.commits.settled();
      await journal.settled();
      const seq = journal.lastSeq;
      await writeSnapshot(objects, { seq, creds: this.creds, keys: this.durableKeys });
      const previousSnapshot = this.snapshotSeq;
      this.snapshotSeq = seq;
      await pruneCovered(objects, previousSnapshot, this.keepJournalMs);
    } catch (err) {
      this.options.onCompactionError?.(err);
    }
  }

  /** Cheap check that the store answers and the lease still holds. */
  async healthy(): Promise<boolean> {
    if (this.journal?.isFenced || !this.options.lease.valid()) return false;
    try {
      return (await this.options.store.get(`${this.base}${DATA_KEY_OBJECT}`)) !== null;
    } catch {
      return false;
    }
  }

  isFencingError(err: unknown): boolean {
    return err instanceof FencedError || err instanceof LeaseLostError;
  }

  /**
   * Moves every live state object (not the lease, not earlier quarantines) to
   * `<prefix>/<clinic>/<channel>/quarantine/<time>/` byte for byte, then starts over with fresh
   * creds. Returns where the copies are.
   */
  async quarantine(reason: string): Promise<string> {
    await this.commits.settled();
    await this.opened().journal.settled();
    const target = await copyToQuarantine(
      { store: this.options.store, location: this.location, base: this.base },
      reason,
      new Date(),
    );
    await this.startOver();
    return target;
  }

  /** Deletes every live state object of the channel (not the lease), then starts over with fresh creds. */
  async erase(): Promise<void> {
    await this.commits.settled();
    await this.opened().journal.settled();
    await this.startOver();
  }

  private async startOver(): Promise<void> {
    await removeStateObjects({ store: this.options.store, base: this.base });
    this.snapshotSeq = 0;
    this.durableKeys = {};
    await this.open();
  }

  /**
   * The channel's sealed objects, for the sent-message store: the same data key and object
   * binding. Asked for at each use, because starting over replaces the data key.
   */
  sealedObjects(): SealedObjects {
    return this.opened().objects;
  }

  private opened(): { objects: SealedObjects; journal: FencedJournal } {
    if (!this.objects || !this.journal) throw new Error('the channel state is not open yet');
    return { objects: this.objects, journal: this.journal };
  }
}
