/**
 * `wa state backup`: a consistent, verified copy of a channel's prefix in a new folder, taken
 * while its worker keeps running.
 *
 * Why a copy taken during writes is still one state: journal slots, snapshots and the data key
 * are each written once and never changed (docs/state-store.md, "Fencing"); a worker appends
 * slot n+1 only after slot n is stored, and writes a snapshot before it deletes the journal
 * slots the snapshot covers. A listing therefore sees a snapshot and an unbroken run of journal
 * slots after it: the state as of its last slot. What can break a copy is an object deleted
 * between the listing and its read (a compaction or a quarantine running meanwhile): then the
 * copy is thrown away and taken again. Either way the copy is read back from the folder and
 * checked as a worker would load it (check.ts) before it counts.
 *
 * The folder holds the objects under their own keys (the layout of local mode's state folder,
 * written with the worker's LocalDiskObjectStore) and `backup.json`, the manifest. The objects
 * stay encrypted: the backup is useless without KMS and the channel's encryption context.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { channelStatePrefix, LEASE_OBJECT } from '../../../contract/state-layout.ts';
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
    const listed = (await source.list(base)).filter((o) => o.key !== `${base}${LEASE_OBJECT}`);
    if (listed.length === 0)
      throw new CliError(`${describeTarget(target)} has no stored state: nothing to back up`);
    const objects: BackupManifest['objects'] = [];
    let vanished: string | undefined;
    for (const o of listed) {
      const stored = await source.get(o.key);
      if (!stored) {
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
