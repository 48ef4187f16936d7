/**
 * A channel's Baileys auth state (creds + Signal keys) in an object store, encrypted.
 *
 * Layout under `<prefix>/<clinic>/<channel>/`:
 *   datakey            the KMS-wrapped data key (JSON; useless without KMS + context)
 *   lease              who may run the channel (lease.ts)
 *   snapshot/<seq>     the whole state as of journal slot <seq>
 *   journal/<seq>      one record per Baileys transaction or creds save, in order
 *   messages/<hash>    sent messages kept for retries (message-store.ts)
 *
 * Guarantees (DESIGN.md, "Auth state in S3"):
 * - keys.set() resolves only after its whole transaction is one durable journal
 *   record; memory (what keys.get returns) changes only after that, so nothing ever
 *   runs ahead of S3.
 * - Journal slots are claimed with If-None-Match: a slot is written once. A new lease
 *   holder first claims the next free slot with a fence record; a stale holder's next
 *   append then hits an existing slot and S3 itself refuses it (FencedError).
 * - A read that fails throws. Fresh creds are made only when the channel provably has
 *   no state at all (no data key and no other object); they are written durably
 *   (in the fence record) before anything can use them.
 * - Creds and the pre-keys they count cannot diverge: on load the pre-key counters
 *   are raised past every stored pre-key, so an id is never handed out twice.
 */
import { createHash } from 'node:crypto';
import {
  initAuthCreds,
  type AuthenticationCreds,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from '@whiskeysockets/baileys';
import { decodeJson, encodeJson, reviveKey } from './codec.ts';
import { open, seal, UnreadableObjectError } from './envelope.ts';
import type { DataKeyProvider, EncryptionContext } from './key-provider.ts';
import type { ChannelLease } from './lease.ts';
import { LeaseLostError } from './lease.ts';
import { PreconditionFailedError, type ObjectStore } from './object-store.ts';

type KeyMap = Record<string, Record<string, unknown>>;
type KeyMutations = Record<string, Record<string, unknown | null>>;

interface JournalRecord {
  v: 1;
  epoch: number;
  at: number;
  fence?: true;
  creds?: AuthenticationCreds;
  keys?: KeyMutations;
}

interface Snapshot {
  v: 1;
  seq: number;
  creds: AuthenticationCreds | null;
  keys: KeyMap;
}

/** A write was refused because another worker holds the channel now. */
export class FencedError extends Error {
  constructor(key: string) {
    super(`write of ${key} refused: another worker has taken over this channel`);
    this.name = 'FencedError';
  }
}

/** The stored state is inconsistent in a way that must not be papered over. */
export class StateIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateIntegrityError';
  }
}

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

const SLOT_DIGITS = 12;
const slotName = (seq: number) => String(seq).padStart(SLOT_DIGITS, '0');

export class ChannelState {
  readonly base: string;
  private readonly o: Required<Omit<ChannelStateOptions, 'onCompactionError'>> &
    Pick<ChannelStateOptions, 'onCompactionError'>;
  private readonly context: EncryptionContext;
  private dataKey: Uint8Array | undefined;
  /** The live creds object Baileys mutates. */
  creds!: AuthenticationCreds;
  private durableKeys: KeyMap = {};
  /** The creds as last written (encoded), so a creds.update that changes nothing writes nothing. */
  private durableCreds: Uint8Array | undefined;
  private lastSeq = 0;
  private snapshotSeq = 0;
  private writes: Promise<unknown> = Promise.resolve();
  private fenced = false;
  private compacting = false;
  private registered = false;

  constructor(options: ChannelStateOptions) {
    this.o = { compactEvery: 500, keepJournalMs: 120_000, ...options };
    this.base = `${options.prefix}/${options.clinic}/${options.channel}/`;
    this.context = { clinic: options.clinic, channel: options.channel };
  }

  /** Loads (or, for a channel with no state at all, creates) the state. The lease must be held. */
  async open(): Promise<void> {
    this.o.lease.assertValid();
    this.dataKey = await this.loadOrCreateDataKey();
    for (let attempt = 0; ; attempt++) {
      await this.load();
      try {
        // The fence: from now on, no older holder can append to this journal. (A record of our
        // own epoch already in the slot can only be this same fence, written by an earlier attempt.)
        await this.writeSlot(this.lastSeq + 1, {
          v: 1,
          epoch: this.o.lease.epoch,
          at: Date.now(),
          fence: true,
          creds: this.creds,
        });
        this.lastSeq++;
        this.durableCreds = encodeJson(this.creds);
        return;
      } catch (err) {
        // A record landed in the slot meanwhile (the previous holder's last write): read again.
        if (!(err instanceof FencedError) || attempt >= 5) throw err;
      }
    }
  }

  /** Whether the creds are of a linked device. */
  isRegistered(): boolean {
    return this.registered || Boolean(this.creds?.me?.id);
  }

  private object(key: string) {
    return { clinic: this.context.clinic, channel: this.context.channel, key: `${this.base}${key}` };
  }

  private async loadOrCreateDataKey(): Promise<Uint8Array> {
    const key = `${this.base}datakey`;
    const stored = await this.o.store.get(key);
    if (stored) {
      let parsed: { v: number; wrapped: string };
      try {
        parsed = JSON.parse(Buffer.from(stored.body).toString('utf8')) as { v: number; wrapped: string };
      } catch {
        throw new UnreadableObjectError(key, 'not a data key record');
      }
      return this.o.keyProvider.unwrap(Buffer.from(parsed.wrapped, 'base64'), this.context);
    }
    // No data key: only a channel with no objects at all may start fresh.
    const existing = (await this.o.store.list(this.base)).filter((o) => !o.key.endsWith('/lease'));
    if (existing.length > 0) {
      throw new StateIntegrityError(
        `${this.o.store.location}/${key} is missing but ${existing.length} state object(s) exist under ` +
          `${this.base} (e.g. ${existing[0]!.key}); refusing to create new credentials over them`,
      );
    }
    const created = await this.o.keyProvider.generate(this.context);
    const record = {
      v: 1,
      keyId: this.o.keyProvider.keyId,
      context: this.context,
      wrapped: Buffer.from(created.wrapped).toString('base64'),
    };
    try {
      await this.o.store.put(key, Buffer.from(JSON.stringify(record)), { ifAbsent: true });
    } catch (err) {
      if (err instanceof PreconditionFailedError) throw new FencedError(key);
      throw err;
    }
    return created.plaintext;
  }

  private async read(key: string): Promise<Uint8Array> {
    const stored = await this.o.store.get(`${this.base}${key}`);
    if (!stored)
      throw new StateIntegrityError(
        `${this.o.store.location}/${this.base}${key} vanished while the state was read`,
      );
    return open(this.dataKey!, this.object(key), stored.body);
  }

  private async load(): Promise<void> {
    const listed = await this.o.store.list(this.base);
    const seqs = (dir: string) =>
      listed
        .map((o) => o.key.slice(this.base.length))
        .filter((k) => k.startsWith(`${dir}/`))
        .map((k) => ({ name: k, seq: Number(k.slice(dir.length + 1)) }))
        .filter((s) => Number.isSafeInteger(s.seq))
        .sort((a, b) => a.seq - b.seq);

    let creds: AuthenticationCreds | null = null;
    let keys: KeyMap = {};
    const latest = seqs('snapshot').at(-1);
    this.snapshotSeq = 0;
    if (latest) {
      const snap = decodeJson<Snapshot>(await this.read(latest.name));
      if (snap.seq !== latest.seq)
        throw new UnreadableObjectError(`${this.base}${latest.name}`, 'snapshot sequence mismatch');
      creds = snap.creds;
      keys = snap.keys;
      this.snapshotSeq = snap.seq;
    }
    let expected = this.snapshotSeq + 1;
    for (const slot of seqs('journal').filter((s) => s.seq > this.snapshotSeq)) {
      if (slot.seq !== expected) {
        throw new StateIntegrityError(
          `journal slot ${slotName(expected)} under ${this.base} is missing (found ${slot.name})`,
        );
      }
      const record = decodeJson<JournalRecord>(await this.read(slot.name));
      if (record.creds) creds = record.creds;
      if (record.keys) applyMutations(keys, record.keys);
      expected++;
    }
    this.lastSeq = expected - 1;
    this.durableKeys = keys;
    this.creds = creds ?? initAuthCreds();
    this.registered = Boolean(this.creds.me?.id);
    this.repairPreKeyCounters();
  }

  /**
   * Baileys stores new pre-keys (keys.set) before it saves the creds that count them.
   * If the creds save was lost, the counter is behind the stored keys: raise it so no
   * pre-key id is ever generated twice, and treat the uncounted ones as uploaded.
   */
  private repairPreKeyCounters(): void {
    const ids = Object.keys(this.durableKeys['pre-key'] ?? {})
      .map(Number)
      .filter(Number.isSafeInteger);
    if (ids.length === 0) return;
    const next = Math.max(...ids) + 1;
    if (this.creds.nextPreKeyId < next) {
      this.creds.nextPreKeyId = next;
      this.creds.firstUnuploadedPreKeyId = Math.max(this.creds.firstUnuploadedPreKeyId, next);
    }
  }

  /**
   * Writes one journal slot. Returns undefined when `record` is in it, or the record found there
   * when that is an earlier write of this same epoch — ours, landed in S3 although its answer was
   * lost (a network cut between S3's commit and its reply), so the caller thought it failed. A
   * slot holding another epoch's record means another worker has taken over: FencedError.
   */
  private async writeSlot(seq: number, record: JournalRecord): Promise<JournalRecord | undefined> {
    const name = `journal/${slotName(seq)}`;
    const sealed = seal(this.dataKey!, this.object(name), encodeJson(record));
    try {
      await this.o.store.put(`${this.base}${name}`, sealed, { ifAbsent: true });
      return undefined;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      const stored = await this.o.store.get(`${this.base}${name}`);
      if (!stored) throw new FencedError(`${this.base}${name}`);
      const found = decodeJson<JournalRecord>(open(this.dataKey!, this.object(name), stored.body));
      if (found.epoch === record.epoch) return found;
      throw new FencedError(`${this.base}${name}`);
    }
  }

  /** Counts a record of ours that landed unnoticed as durable, as a restart would read it. */
  private adoptLanded(record: JournalRecord): void {
    this.lastSeq++;
    if (record.keys) applyMutations(this.durableKeys, record.keys);
    if (record.creds) {
      this.durableCreds = encodeJson(record.creds);
      if (record.creds.me?.id) this.registered = true;
    }
  }

  /**
   * Appends one record, in order, after every earlier one. Memory changes only after S3 accepted
   * it. `make` returns null when the record would change nothing durable: then nothing is written.
   */
  private append(make: () => JournalRecord | null, apply: () => void): Promise<void> {
    const run = async () => {
      if (this.fenced) throw new FencedError(`${this.base}journal`);
      this.o.lease.assertValid();
      for (;;) {
        const record = make(); // again after adopting a landed record: it may have made this one moot
        if (!record) return;
        let landed: JournalRecord | undefined;
        try {
          landed = await this.writeSlot(this.lastSeq + 1, record);
        } catch (err) {
          if (err instanceof FencedError) this.fenced = true;
          throw err;
        }
        if (!landed) break;
        this.adoptLanded(landed);
      }
      this.lastSeq++;
      apply();
      if (this.lastSeq - this.snapshotSeq >= this.o.compactEvery) void this.compact();
    };
    const result = this.writes.then(run, run);
    this.writes = result.catch(() => undefined);
    return result;
  }

  /** The Signal key store Baileys uses (it batches each transaction into one set()). */
  readonly keys: SignalKeyStore = {
    get: async <T extends keyof SignalDataTypeMap>(type: T, ids: string[]) => {
      const bucket = this.durableKeys[type] ?? {};
      const out: { [id: string]: SignalDataTypeMap[T] } = {};
      for (const id of ids) {
        const value = bucket[id];
        if (value !== undefined && value !== null) out[id] = reviveKey(type, value) as SignalDataTypeMap[T];
      }
      return out;
    },
    set: async (data) => {
      const mutations = data as unknown as KeyMutations;
      if (Object.keys(mutations).length === 0) return;
      // Freeze the values now: the record must be exactly what was asked, even if callers mutate later.
      const frozen = decodeJson<KeyMutations>(encodeJson(mutations));
      await this.append(
        () => {
          // Baileys rewrites unchanged keys on every message (LID mappings, device lists); a
          // transaction that changes nothing durable needs no S3 write. Compared in write order,
          // against what earlier records made durable.
          const changed = changedMutations(this.durableKeys, frozen);
          return changed && { v: 1, epoch: this.o.lease.epoch, at: Date.now(), keys: changed };
        },
        () => applyMutations(this.durableKeys, frozen),
      );
    },
  };

  /** Saves the whole current creds object (call on Baileys' creds.update). */
  saveCreds(): Promise<void> {
    const encoded = encodeJson(this.creds);
    const snapshot = decodeJson<AuthenticationCreds>(encoded);
    return this.append(
      () =>
        this.durableCreds && Buffer.compare(encoded, this.durableCreds) === 0
          ? null
          : { v: 1, epoch: this.o.lease.epoch, at: Date.now(), creds: snapshot },
      () => {
        this.durableCreds = encoded;
        if (snapshot.me?.id) this.registered = true;
      },
    );
  }

  /** Resolves when every write started so far is durable; throws if the last one failed. */
  async flush(): Promise<void> {
    await this.writes;
    if (this.fenced) throw new FencedError(`${this.base}journal`);
  }

  /** Writes a snapshot and removes journal records it covers that are old enough to be safe to remove. */
  async compact(): Promise<void> {
    if (this.compacting) return;
    this.compacting = true;
    try {
      await this.writes;
      const seq = this.lastSeq;
      const snapshot: Snapshot = {
        v: 1,
        seq,
        creds: decodeJson(encodeJson(this.creds)),
        keys: this.durableKeys,
      };
      const name = `snapshot/${slotName(seq)}`;
      await this.o.store.put(
        `${this.base}${name}`,
        seal(this.dataKey!, this.object(name), encodeJson(snapshot)),
        { ifAbsent: true },
      );
      const previousSnapshot = this.snapshotSeq;
      this.snapshotSeq = seq;
      // A journal slot is removed only once it is old: a stale writer's in-flight append must still
      // collide with it (see docs/state-store.md, "Fencing").
      const cutoff = Date.now() - this.o.keepJournalMs;
      for (const o of await this.o.store.list(this.base)) {
        const rel = o.key.slice(this.base.length);
        const [dir, num] = rel.split('/');
        const n = Number(num);
        if (dir === 'journal' && n <= previousSnapshot && o.lastModified.getTime() < cutoff)
          await this.o.store.delete(o.key);
        if (dir === 'snapshot' && n < previousSnapshot) await this.o.store.delete(o.key);
      }
    } catch (err) {
      this.o.onCompactionError?.(err);
    } finally {
      this.compacting = false;
    }
  }

  /** Cheap check that the store answers and the lease still holds. */
  async healthy(): Promise<boolean> {
    if (this.fenced || !this.o.lease.valid()) return false;
    try {
      return (await this.o.store.get(`${this.base}datakey`)) !== null;
    } catch {
      return false;
    }
  }

  isFencingError(err: unknown): boolean {
    return err instanceof FencedError || err instanceof LeaseLostError;
  }

  /**
   * Moves every state object (all but the lease) to `<prefix>/quarantine/<clinic>/<channel>/<time>/`
   * byte for byte, then starts over with fresh creds. The moved objects stay encrypted;
   * their authenticated data names their original key (docs/state-store.md).
   */
  async quarantine(reason: string): Promise<string> {
    await this.writes;
    const target = `${this.o.prefix}/quarantine/${this.context.clinic}/${this.context.channel}/${new Date().toISOString()}/`;
    for (const o of await this.o.store.list(this.base)) {
      if (o.key === `${this.base}lease`) continue;
      const stored = await this.o.store.get(o.key);
      if (stored) await this.o.store.put(`${target}${o.key.slice(this.base.length)}`, stored.body);
    }
    await this.o.store.put(`${target}REASON`, Buffer.from(`${reason}\n`));
    await this.removeAll();
    await this.open();
    return target;
  }

  /** Deletes every state object of the channel (not the lease), then starts over with fresh creds. */
  async erase(): Promise<void> {
    await this.writes;
    await this.removeAll();
    await this.open();
  }

  private async removeAll(): Promise<void> {
    for (const o of await this.o.store.list(this.base)) {
      if (o.key !== `${this.base}lease`) await this.o.store.delete(o.key);
    }
    this.snapshotSeq = 0;
    this.lastSeq = 0;
    this.durableKeys = {};
    this.fenced = false;
  }

  /** For message-store.ts: the same data key and object binding. */
  sealObject(name: string, plaintext: Uint8Array): Uint8Array {
    return seal(this.dataKey!, this.object(name), plaintext);
  }

  openObject(name: string, sealed: Uint8Array): Uint8Array {
    return open(this.dataKey!, this.object(name), sealed);
  }
}

/** The mutations that would change `keys` (a deletion of an absent key changes nothing), or null. */
function changedMutations(keys: KeyMap, mutations: KeyMutations): KeyMutations | null {
  let changed: KeyMutations | null = null;
  for (const [type, entries] of Object.entries(mutations)) {
    for (const [id, value] of Object.entries(entries)) {
      const current = keys[type]?.[id];
      const same =
        value === null || value === undefined
          ? current === undefined
          : current !== undefined && Buffer.compare(encodeJson(current), encodeJson(value)) === 0;
      if (!same) ((changed ??= {})[type] ??= {})[id] = value;
    }
  }
  return changed;
}

function applyMutations(keys: KeyMap, mutations: KeyMutations): void {
  for (const [type, entries] of Object.entries(mutations)) {
    const bucket = (keys[type] ??= {});
    for (const [id, value] of Object.entries(entries)) {
      if (value === null || value === undefined) delete bucket[id];
      else bucket[id] = value;
    }
  }
}

/** Object name of a sent message kept for retries (ids are hashed: they are not ours to shape). */
export function messageObjectName(id: string): string {
  return `messages/${createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
}
