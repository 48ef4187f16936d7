/**
 * `wa state backup`: a consistent, verified copy of a channel's prefix in a new folder, taken
 * while its worker keeps running.
 *
 * Why a copy taken during writes is still one state: journal slots, snapshots and the data key
 * are each written once and never changed (docs/state-store.md, "Fencing"); a worker appends
 * slot n+1 only after slot n is stored, and writes a snapshot before it deletes the journal
 * slots the snapshot covers. A listing therefore sees a snapshot and an unbroken run of journal
 * slots after it: the state as of its last slot. The copy takes just that (neededObjects). What
 * can still break it is an object deleted between the listing and its read (two compactions, or
 * a quarantine, meanwhile): then the copy is thrown away and taken again. Either way the copy is read back from the folder and
 * checked as a worker would load it (check.ts) before it counts.
 *
 * The folder holds the objects under their own keys (the layout of local mode's state folder,
 * written with the worker's LocalDiskObjectStore) and `backup.json`, the manifest. The objects
 * stay encrypted: the backup is useless without KMS and the channel's encryption context.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  channelStatePrefix,
  DATA_KEY_OBJECT,
  LEASE_OBJECT,
  MEDIA_DIR,
  parseSequencedName,
  SENT_MESSAGES_DIR,
  SNAPSHOT_DIR,
} from '../../../contract/state-layout.ts';
import type { ListedObject } from '../../../worker/src/auth-store/object-store.ts';
import { LocalDiskObjectStore } from '../../../worker/src/auth-store/local-disk-object-store.ts';
import { CliError } from '../../connection.ts';
import { checkChannel, type Problem } from './check.ts';
import { describeTarget, type ChannelTarget, type StateAccess } from './state-access.ts';

export const BACKUP_MANIFEST = 'backup.json';

export interface BackupManifest {
  v: 1;
  kind: 'wa-state-backup';
  /** The channel's prefix, `<prefix>/<clinic>/<channel>/`: a backup restores only there. */
  base: string;
  bucket: string;
  clinicId: string;
  channelId: string;
  takenAt: string;
  /** The journal slot the copy ends at, and the KMS key wrapping its data key. */
  lastSeq: number;
  keyArn: string;
  objects: { key: string; size: number; sha256: string }[];
}

/** How often a copy that raced a compaction or a quarantine is taken again. */
const ATTEMPTS = 5;

async function assertNewFolder(dir: string): Promise<void> {
  try {
    if ((await readdir(dir)).length > 0)
      throw new CliError(`${dir} is not empty: a backup is written to a new or empty folder only`, 2);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * What a copy needs of a listing, in the order it is copied: the data key, the newest snapshot,
 * the journal slots after it, then the rest (sent messages, quarantined copies). Not the lease
 * (it names a worker, not state); not media, the clinic's files with their own retention, outside
 * the session (contract/state-layout.ts); not the journal slots and snapshots the newest snapshot
 * covers. Those are what the worker deletes first: a slot after the newest snapshot, and that
 * snapshot, go only after two more compactions, so a copy that skips the rest seldom races one.
 */
function neededObjects(base: string, listed: ListedObject[]): ListedObject[] {
  const named = listed
    .map((o) => ({ o, name: o.key.slice(base.length) }))
    .filter(({ name }) => name !== LEASE_OBJECT && !name.startsWith(`${MEDIA_DIR}/`));
  const newestSnapshot = Math.max(
    0,
    ...named
      .map(({ name }) => parseSequencedName(name))
      .flatMap((p) => (p?.dir === SNAPSHOT_DIR ? [p.seq] : [])),
  );
  const rank = (name: string) => {
    if (name === DATA_KEY_OBJECT) return [0, 0];
    const seq = parseSequencedName(name);
    if (seq?.dir === SNAPSHOT_DIR) return seq.seq === newestSnapshot ? [1, 0] : undefined;
    if (seq) return seq.seq > newestSnapshot ? [2, seq.seq] : undefined;
    return [3, 0];
  };
  return named
    .map(({ o, name }) => ({ o, rank: rank(name) }))
    .filter((x): x is { o: ListedObject; rank: number[] } => x.rank !== undefined)
    .sort((a, b) => a.rank[0]! - b.rank[0]! || a.rank[1]! - b.rank[1]!)
    .map((x) => x.o);
}

export async function backupChannel(
  access: StateAccess,
  target: ChannelTarget,
  dirArg: string,
): Promise<BackupManifest & { dir: string }> {
  const dir = resolve(dirArg);
  await assertNewFolder(dir);
  const source = access.store(target.bucket);
  const base = channelStatePrefix(target);
  let problems: Problem[] = [];
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const copy = new LocalDiskObjectStore(dir);
    const listed = neededObjects(base, await source.list(base));
    if (listed.length === 0)
      throw new CliError(`${describeTarget(target)} has no stored state: nothing to back up`);
    const objects: BackupManifest['objects'] = [];
    let vanished: string | undefined;
    for (const o of listed) {
      const stored = await source.get(o.key);
      if (!stored) {
        // A sent message trimmed meanwhile is simply no longer part of the state.
        if (o.key.startsWith(`${base}${SENT_MESSAGES_DIR}/`)) continue;
        vanished = o.key;
        break;
      }
      await copy.put(o.key, stored.body);
      objects.push({
        key: o.key,
        size: stored.body.byteLength,
        sha256: createHash('sha256').update(stored.body).digest('hex'),
      });
    }
    if (vanished) {
      problems = [
        { key: vanished, why: 'deleted while it was copied (the worker compacted or started over)' },
      ];
      continue;
    }
    // Read back from the folder: the copy itself must be a state a worker could load.
    const check = await checkChannel(copy, target, access.kms);
    problems = check.problems;
    if (problems.length > 0) continue;
    const manifest: BackupManifest = {
      v: 1,
      kind: 'wa-state-backup',
      base,
      bucket: target.bucket,
      clinicId: target.clinicId,
      channelId: target.channelId,
      takenAt: new Date().toISOString(),
      lastSeq: check.live.lastSeq ?? 0,
      keyArn: check.live.keyArn ?? '',
      objects,
    };
    await writeFile(join(dir, BACKUP_MANIFEST), JSON.stringify(manifest, null, 2) + '\n', {
      flag: 'wx',
      mode: 0o600,
    });
    return { ...manifest, dir };
  }
  await rm(dir, { recursive: true, force: true });
  throw new CliError(
    `no consistent copy of ${describeTarget(target)} after ${ATTEMPTS} attempts; nothing was kept:\n` +
      problems.map((p) => `  ${p.key}: ${p.why}`).join('\n'),
  );
}
