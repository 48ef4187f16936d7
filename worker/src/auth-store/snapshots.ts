/**
 * Snapshots, `<prefix>/<clinic>/<channel>/snapshot/<seq>`: the whole state as of journal slot
 * `<seq>`, so a start reads one object and the journal after it instead of the whole journal.
 *
 * Retention: a compaction keeps the newest snapshot and the one before it, and deletes a journal
 * slot only when an earlier snapshot covers it *and* it is older than `keepJournalMs` (2 × the
 * lease TTL). A stale writer's in-flight append must still collide with the slot it aims at;
 * docs/state-store.md ("Fencing", point 6) shows why 2 × TTL is enough.
 */
import type { AuthenticationCreds } from '@whiskeysockets/baileys';
import {
  JOURNAL_DIR,
  parseSequencedName,
  SNAPSHOT_DIR,
  snapshotName,
} from '../../../contract/state-layout.ts';
import { decodeJson, encodeJson } from './codec.ts';
import { UnreadableObjectError } from './envelope.ts';
import type { KeyMap } from './key-mutations.ts';
import { listLiveState } from './live-state.ts';
import type { SealedObjects } from './sealed-objects.ts';

export interface Snapshot {
  v: 1;
  seq: number;
  creds: AuthenticationCreds | null;
  keys: KeyMap;
}

function latestSnapshotName(names: string[]) {
  return names
    .map((name) => ({ name, parsed: parseSequencedName(name) }))
    .filter((s) => s.parsed?.dir === SNAPSHOT_DIR)
    .sort((a, b) => a.parsed!.seq - b.parsed!.seq)
    .at(-1);
}

/** The journal slot the newest snapshot among `names` covers, by its name (0: no snapshot). */
export function latestSnapshotSeq(names: string[]): number {
  return latestSnapshotName(names)?.parsed!.seq ?? 0;
}

/** The newest snapshot among the channel's `names` (relative to its prefix), or undefined. */
export async function readLatestSnapshot(
  objects: SealedObjects,
  names: string[],
): Promise<Snapshot | undefined> {
  const latest = latestSnapshotName(names);
  if (!latest) return undefined;
  const snapshot = decodeJson<Snapshot>(await objects.read(latest.name));
  if (snapshot.seq !== latest.parsed!.seq)
    throw new UnreadableObjectError(objects.key(latest.name), 'snapshot sequence mismatch');
  return snapshot;
}

/** Writes a snapshot of `state` as of journal slot `seq` (each slot is snapshotted at most once). */
export async function writeSnapshot(
  objects: SealedObjects,
  state: { seq: number; creds: AuthenticationCreds; keys: KeyMap },
): Promise<void> {
  const snapshot: Snapshot = {
    v: 1,
    seq: state.seq,
    creds: decodeJson(encodeJson(state.creds)),
    keys: state.keys,
  };
  const name = snapshotName(state.seq);
  await objects.store.put(objects.key(name), objects.seal(name, encodeJson(snapshot)), { ifAbsent: true });
}

/**
 * Removes what a newer snapshot made redundant once the snapshot `coveredSeq` exists: older
 * snapshots, and journal slots up to `coveredSeq` that are older than `keepJournalMs`.
 */
export async function pruneCovered(
  objects: SealedObjects,
  coveredSeq: number,
  keepJournalMs: number,
): Promise<void> {
  const cutoff = Date.now() - keepJournalMs;
  for (const o of await listLiveState(objects.store, objects.base)) {
    const parsed = parseSequencedName(o.key.slice(objects.base.length));
    if (!parsed) continue;
    if (parsed.dir === JOURNAL_DIR && parsed.seq <= coveredSeq && o.lastModified.getTime() < cutoff)
      await objects.store.delete(o.key);
    if (parsed.dir === SNAPSHOT_DIR && parsed.seq < coveredSeq) await objects.store.delete(o.key);
  }
}
