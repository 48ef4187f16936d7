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
import { latestSnapshotSeq, readLatestSnapshot } from './snapshots.ts';

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
  // The snapshot and the journal after it are read side by side; the records are applied to
  // the snapshot once it is in. The snapshot's name gives its slot (checked against its content).
  const reading = readLatestSnapshot(objects, names);
  reading.catch(() => undefined); // thrown below, where it is awaited
  let snapshotSeq = 0;
  let creds: AuthenticationCreds | null = null;
  let keys: KeyMap = {};
  const snapshotRead = reading.then((read) => {
    snapshotSeq = read?.seq ?? 0;
    creds = read?.creds ?? null;
    keys = read?.keys ?? {};
  });
  const lastSeq = await replayJournal(
    objects,
    names,
    latestSnapshotSeq(names),
    (record) => {
      if (record.creds) creds = record.creds;
      if (record.keys) applyMutations(keys, record.keys);
    },
    snapshotRead,
  );
  await snapshotRead;
  return { snapshotSeq, lastSeq, creds, keys };
}
