/**
 * Reading a channel's stored state: the latest snapshot and every journal record after it, in
 * order, with no gap. The worker loads its state this way (channel-state.ts), and the `wa state`
 * commands check a channel, a backup or a restore point with the very same code, without a
 * lease and without writing anything.
 */
import type { AuthenticationCreds } from '@whiskeysockets/baileys';
import { replayJournal } from './journal.ts';
import { applyMutations, type KeyMap } from './key-mutations.ts';
import type { SealedObjects } from './sealed-objects.ts';
import { readLatestSnapshot } from './snapshots.ts';

export interface StoredState {
  /** The journal slot the latest snapshot covers (0: no snapshot). */
  snapshotSeq: number;
  /** The last journal slot read (the state's newest record). */
  lastSeq: number;
  /** null for a channel whose creds were never saved. */
  creds: AuthenticationCreds | null;
  keys: KeyMap;
}

/**
 * The state held by the objects `names` (relative to the channel's prefix; live state only).
 * Throws UnreadableObjectError (naming the object) or StateIntegrityError (a missing slot).
 */
export async function readStoredState(objects: SealedObjects, names: string[]): Promise<StoredState> {
  const snapshot = await readLatestSnapshot(objects, names);
  let creds = snapshot?.creds ?? null;
  const keys: KeyMap = snapshot?.keys ?? {};
  const snapshotSeq = snapshot?.seq ?? 0;
  const lastSeq = await replayJournal(objects, names, snapshotSeq, (record) => {
    if (record.creds) creds = record.creds;
    if (record.keys) applyMutations(keys, record.keys);
  });
  return { snapshotSeq, lastSeq, creds, keys };
}
