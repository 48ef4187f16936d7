/**
 * The decrypt-check of a channel's stored state (`wa state verify`, and the check every backup
 * and restore makes before it trusts a set of objects). It reads the objects with the worker's
 * own modules: the data key through KMS, every object opened under it and bound to its key,
 * then the state loaded as a worker loads it (the latest snapshot and an unbroken journal after
 * it). Nothing is written, no lease is taken, WhatsApp is never contacted. Each bad object is
 * named with what is wrong with it; nothing secret (keys, creds, the account) is reported.
 */
import { proto } from '@whiskeysockets/baileys';
import {
  channelStatePrefix,
  DATA_KEY_OBJECT,
  JOURNAL_DIR,
  LEASE_OBJECT,
  MEDIA_DIR,
  parseSequencedName,
  QUARANTINE_DIR,
  QUARANTINE_REASON_OBJECT,
  SENT_MESSAGES_DIR,
  type ChannelStateLocation,
} from '../../../contract/state-layout.ts';
import { decodeJson } from '../../../worker/src/auth-store/codec.ts';
import { parseDataKeyRecord } from '../../../worker/src/auth-store/data-key.ts';
import { UnreadableObjectError } from '../../../worker/src/auth-store/envelope.ts';
import { KeyUnwrapError, type KmsDataKeyProvider } from '../../../worker/src/auth-store/key-provider.ts';
import { listLiveState } from '../../../worker/src/auth-store/live-state.ts';
import type { ObjectStore } from '../../../worker/src/auth-store/object-store.ts';
import { SealedObjects } from '../../../worker/src/auth-store/sealed-objects.ts';
import { StateIntegrityError } from '../../../worker/src/auth-store/state-errors.ts';
import { readStoredState } from '../../../worker/src/auth-store/state-reader.ts';
import { ObjectSetView } from './object-set-view.ts';

export interface Problem {
  /** The full object key (or the channel's prefix, for a problem of the state as a whole). */
  key: string;
  why: string;
}

export interface StateCheck {
  /** Where the state was read: the channel's prefix, or a quarantined copy's. */
  where: string;
  /** Live state objects read (the lease and quarantined copies not counted). */
  objects: number;
  problems: Problem[];
  /** The ARN of the KMS key that wraps the data key. */
  keyArn?: string;
  /** The journal slot of the latest snapshot, and the last slot: the state's position. */
  snapshotSeq?: number;
  lastSeq?: number;
  /** Whether the creds are of a linked device (a device that would connect without a QR). */
  linked?: boolean;
}

/** Only what check() needs of KMS (the real KmsDataKeyProvider). */
export type KeyUnwrapper = Pick<KmsDataKeyProvider, 'unwrapNamingKey'>;

const contextOf = (location: ChannelStateLocation) => ({
  clinic: location.clinicId,
  channel: location.channelId,
});

/** The part of an error worth showing beside the object's key. */
function whyOf(err: unknown): string | undefined {
  if (err instanceof UnreadableObjectError) return err.why;
  if (err instanceof KeyUnwrapError || err instanceof StateIntegrityError) return err.message;
  return undefined;
}

/** Checks that a decrypted object is what its name says (a journal record, a snapshot, a message). */
function checkContent(name: string, plaintext: Uint8Array): void {
  const sequenced = parseSequencedName(name);
  if (sequenced) {
    const record = decodeJson<{ v?: number; seq?: number; epoch?: number }>(plaintext);
    if (record.v !== 1) throw new Error(`decrypts, but is not a ${sequenced.dir} record of version 1`);
    if (sequenced.dir === JOURNAL_DIR && typeof record.epoch !== 'number')
      throw new Error('decrypts, but the journal record has no epoch');
    if (sequenced.dir !== JOURNAL_DIR && record.seq !== sequenced.seq)
      throw new Error(`decrypts, but holds the snapshot of slot ${record.seq}, not ${sequenced.seq}`);
  } else if (name.startsWith(`${SENT_MESSAGES_DIR}/`)) {
    proto.Message.decode(plaintext);
  }
}

/**
 * Checks the live state under `location`'s prefix in `store`: every object, then the state as a
 * whole. KMS not answering throws (that says nothing about the state); KMS refusing is a problem.
 */
export async function checkState(
  store: ObjectStore,
  location: ChannelStateLocation,
  kms: KeyUnwrapper,
  /** Objects sealed under the same data key that are not session state (media): opened too. */
  alsoOpen: string[] = [],
): Promise<StateCheck & { dataKey?: Uint8Array }> {
  const base = channelStatePrefix(location);
  const names = (await listLiveState(store, base)).map((o) => o.key.slice(base.length));
  const problems: Problem[] = [];
  const result = { where: base, objects: names.length, problems };
  if (names.length === 0) return result;
  const dataKeyKey = `${base}${DATA_KEY_OBJECT}`;
  const stored = await store.get(dataKeyKey);
  if (!stored) {
    problems.push({
      key: dataKeyKey,
      why: `missing beside ${names.length} state objects: nothing else can be decrypted`,
    });
    return result;
  }
  let dataKey: Uint8Array;
  let keyArn: string;
  try {
    const record = parseDataKeyRecord(dataKeyKey, stored.body);
    ({ plaintext: dataKey, keyArn } = await kms.unwrapNamingKey(
      Buffer.from(record.wrapped, 'base64'),
      contextOf(location),
    ));
  } catch (err) {
    const why = whyOf(err);
    if (why === undefined) throw err;
    problems.push({ key: dataKeyKey, why });
    return result;
  }
  const objects = new SealedObjects({ store, dataKey, ...contextOf(location), base });
  for (const name of [...names, ...alsoOpen]) {
    if (name === DATA_KEY_OBJECT) continue;
    let plaintext: Uint8Array;
    try {
      plaintext = await objects.read(name);
    } catch (err) {
      const why = whyOf(err);
      if (why === undefined) throw err; // the store failing says nothing about the object
      problems.push({ key: `${base}${name}`, why });
      continue;
    }
    try {
      checkContent(name, plaintext);
    } catch (err) {
      const message = (err as Error).message;
      problems.push({
        key: `${base}${name}`,
        why: message.startsWith('decrypts') ? message : `decrypts, but cannot be decoded: ${message}`,
      });
    }
  }
  const known = { ...result, keyArn, dataKey };
  if (problems.length > 0) return known;
  try {
    const state = await readStoredState(objects, names);
    return {
      ...known,
      snapshotSeq: state.snapshotSeq,
      lastSeq: state.lastSeq,
      linked: Boolean(state.creds?.me?.id),
    };
  } catch (err) {
    const why = whyOf(err);
    if (why === undefined) throw err;
    problems.push({ key: base, why });
    return known;
  }
}

export interface ChannelCheck {
  location: ChannelStateLocation;
  live: StateCheck;
  /** One check per quarantined copy, `<prefix>/<clinic>/<channel>/quarantine/<time>/`. */
  quarantined: StateCheck[];
  /** The lease as stored (plain JSON, no secrets), when there is one. */
  lease?: { holder: string; epoch: number; expiresAt: number };
  problems: Problem[];
}

/**
 * Every object of a channel's prefix: the live state, its media (sealed under the same data key),
 * each quarantined copy (read under the keys it was sealed for, with its own copy of the data
 * key), and the lease.
 */
export async function checkChannel(
  store: ObjectStore,
  location: ChannelStateLocation,
  kms: KeyUnwrapper,
): Promise<ChannelCheck> {
  const base = channelStatePrefix(location);
  const all = await store.list(base);
  const names = all.map((o) => o.key.slice(base.length));
  const media = names.filter((name) => name.startsWith(`${MEDIA_DIR}/`));
  const { dataKey: _unused, ...live } = await checkState(store, location, kms, media);
  const problems = [...live.problems];
  let lease: ChannelCheck['lease'];
  if (all.some((o) => o.key === `${base}${LEASE_OBJECT}`)) {
    const stored = await store.get(`${base}${LEASE_OBJECT}`);
    try {
      if (stored) lease = JSON.parse(Buffer.from(stored.body).toString('utf8')) as ChannelCheck['lease'];
    } catch {
      problems.push({ key: `${base}${LEASE_OBJECT}`, why: 'not a lease record (JSON)' });
    }
  }
  const copies = new Map<string, string[]>();
  for (const name of names) {
    if (!name.startsWith(`${QUARANTINE_DIR}/`)) continue;
    const [, time, ...rest] = name.split('/');
    const inner = rest.join('/');
    if (inner === QUARANTINE_REASON_OBJECT || inner === '') continue;
    const at = `${base}${QUARANTINE_DIR}/${time}/`;
    copies.set(at, [...(copies.get(at) ?? []), inner]);
  }
  const quarantined: StateCheck[] = [];
  for (const [at, names] of copies) {
    // Put back where they were sealed, as docs/state-store.md says a copy is read.
    const view = new ObjectSetView(
      `${store.location}/${at}`,
      new Map(
        names.map((name) => [
          `${base}${name}`,
          { lastModified: new Date(0), read: async () => (await store.get(`${at}${name}`))?.body ?? null },
        ]),
      ),
    );
    const { dataKey: _key, ...copy } = await checkState(view, location, kms);
    const relocate = (key: string) => (key.startsWith(base) ? `${at}${key.slice(base.length)}` : key);
    const copyProblems = copy.problems.map((p) => ({ key: relocate(p.key), why: p.why }));
    quarantined.push({ ...copy, where: at, problems: copyProblems });
    problems.push(...copyProblems);
  }
  return { location, live, quarantined, ...(lease ? { lease } : {}), problems };
}
