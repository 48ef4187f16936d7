/**
 * `wa state restore`: puts a channel's live state back to the set of objects that belonged
 * together at a moment (a versioned bucket's history), or to a backup made by `wa state backup`.
 *
 * The rule that keeps versions from being mixed (docs/operations.md, "Restore one channel"):
 * - a restore always replaces the whole live state of the channel (every journal slot, snapshot,
 *   sent message and the data key) with one set, never single objects; objects that did not
 *   exist then are deleted; the lease (whose epoch only rises) and quarantined copies are left;
 * - the set must be a state a worker could have loaded: the data key decrypts, every object
 *   opens under it, and there is a snapshot with an unbroken journal after it. A moment in the
 *   middle of a change that spans objects (a quarantine or an erase starting over, another
 *   restore), or one whose versions are gone (expired by a lifecycle rule), is refused with what
 *   is wrong, and nothing is touched: not even the channel's `suspend`;
 * - the data key is the one exception: when the current `datakey` opens the set (the same data
 *   key, wrapped since under another KMS key by `wa state rewrap`), it is kept, so a restore
 *   never brings back a wrapping under a key that may be disabled by now.
 */
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { channelStatePrefix, DATA_KEY_OBJECT, isLiveStateName } from '../../../contract/state-layout.ts';
import { LocalDiskObjectStore } from '../../../worker/src/auth-store/local-disk-object-store.ts';
import { CliError } from '../../connection.ts';
import { BACKUP_MANIFEST, type BackupManifest } from './backup.ts';
import { checkState, type Problem, type StateCheck } from './check.ts';
import { holdChannel, releaseChannel } from './channel-hold.ts';
import { ObjectSetView } from './object-set-view.ts';
import { describeTarget, type ChannelTarget, type StateAccess } from './state-access.ts';
import {
  copyVersion,
  deleteCurrent,
  latestVersions,
  listVersions,
  lostBefore,
  versioningEnabled,
  versionsAt,
  viewOfVersions,
  type ObjectVersion,
} from './versions.ts';

/** One object of the target set: an earlier version in the bucket, or bytes from a backup. */
type TargetObject = { version: ObjectVersion } | { body: Uint8Array };

export interface RestorePlan {
  /** Full key → what it must hold; live keys not in it are deleted. */
  objects: Map<string, TargetObject>;
  check: StateCheck;
  /** Whether the current data key record is kept (the set opens under it). */
  keepsCurrentDataKey: boolean;
  /** Where the set comes from, for the person. */
  source: string;
}

function refuse(target: ChannelTarget, source: string, problems: Problem[]): never {
  const lines = problems.map((p) => `  ${p.key}: ${p.why}`).join('\n');
  throw new CliError(
    `refusing to restore ${describeTarget(target)} to ${source}: that set of objects is not a state a ` +
      `worker could load, so restoring it would mix versions or lose records. Nothing was changed.\n${lines}`,
  );
}

const liveKeys = (base: string, keys: Iterable<string>) =>
  [...keys].filter((k) => k.startsWith(base) && isLiveStateName(k.slice(base.length)));

/** The live objects current at `at`, checked as a whole; refuses when they are not one state. */
export async function planPointInTime(
  access: StateAccess,
  target: ChannelTarget,
  at: Date,
): Promise<RestorePlan> {
  const source = at.toISOString();
  if (!(await versioningEnabled(access.s3, target.bucket)))
    throw new CliError(
      `versioning is off on s3://${target.bucket}: there is no history to restore from (turn it on, ` +
        'and make backups with wa state backup)',
    );
  const base = channelStatePrefix(target);
  const versions = await listVersions(access.s3, target.bucket, base);
  const live = (set: Map<string, ObjectVersion>) =>
    new Map(liveKeys(base, set.keys()).map((k) => [k, set.get(k)!]));
  const then = live(versionsAt(versions, at));
  const gone = liveKeys(base, lostBefore(versions, at));
  if (gone.length > 0)
    refuse(
      target,
      source,
      gone.map((key) => ({
        key,
        why: 'its version of that moment is gone (expired or deleted from the history): only a delete marker is left',
      })),
    );
  if (then.size === 0)
    throw new CliError(`${describeTarget(target)} had no state at ${source}: nothing to restore`);
  const now = live(latestVersions(versions));
  const dataKey = `${base}${DATA_KEY_OBJECT}`;
  const currentDataKey = now.get(dataKey);
  // The same data key, wrapped under another KMS key since: keep today's wrapping.
  if (currentDataKey && then.get(dataKey)?.versionId !== currentDataKey.versionId) {
    const withCurrent = new Map(then).set(dataKey, currentDataKey);
    const check = await checkState(
      viewOfVersions(access.s3, target.bucket, withCurrent, source),
      target,
      access.kms,
    );
    if (check.problems.length === 0)
      return { objects: asTarget(withCurrent), check, keepsCurrentDataKey: true, source };
  }
  const check = await checkState(viewOfVersions(access.s3, target.bucket, then, source), target, access.kms);
  if (check.problems.length > 0) refuse(target, source, check.problems);
  return { objects: asTarget(then), check, keepsCurrentDataKey: false, source };
}

const asTarget = (set: Map<string, ObjectVersion>) =>
  new Map<string, TargetObject>([...set].map(([k, version]) => [k, { version }]));

/** The objects of a backup folder, checked against its manifest and as a whole. */
export async function planFromBackup(
  access: StateAccess,
  target: ChannelTarget,
  dir: string,
): Promise<RestorePlan> {
  const source = `the backup in ${dir}`;
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, BACKUP_MANIFEST), 'utf8')) as BackupManifest;
  } catch (err) {
    throw new CliError(
      `${dir} is not a backup of wa state backup (${BACKUP_MANIFEST}: ${(err as Error).message})`,
      2,
    );
  }
  const base = channelStatePrefix(target);
  if (manifest.base !== base)
    throw new CliError(
      `${dir} holds ${manifest.base}, not ${base}: a backup restores only to its own channel and prefix ` +
        '(the objects are bound to their keys)',
      2,
    );
  const backup = new LocalDiskObjectStore(dir);
  const bodies = new Map<string, Uint8Array>();
  const problems: Problem[] = [];
  for (const entry of manifest.objects) {
    if (!isLiveStateName(entry.key.slice(base.length))) continue;
    const stored = await backup.get(entry.key);
    const digest = stored && createHash('sha256').update(stored.body).digest('hex');
    if (!stored) problems.push({ key: entry.key, why: 'listed in the manifest but missing from the backup' });
    else if (digest !== entry.sha256)
      problems.push({ key: entry.key, why: 'changed since the backup was made' });
    else bodies.set(entry.key, stored.body);
  }
  if (problems.length > 0) refuse(target, source, problems);
  const plan = async (set: Map<string, Uint8Array>, keepsCurrentDataKey: boolean) => {
    const view = new ObjectSetView(
      source,
      new Map(
        [...set].map(([key, body]) => [
          key,
          { lastModified: new Date(manifest.takenAt), read: async () => body },
        ]),
      ),
    );
    const check = await checkState(view, target, access.kms);
    const objects = new Map<string, TargetObject>([...set].map(([key, body]) => [key, { body }]));
    return { objects, check, keepsCurrentDataKey, source };
  };
  // Today's data key record, when it opens the backup (the backup's may be wrapped under a retired key).
  const dataKey = `${base}${DATA_KEY_OBJECT}`;
  const current = await access.store(target.bucket).get(dataKey);
  if (current && bodies.has(dataKey)) {
    const withCurrent = await plan(new Map(bodies).set(dataKey, current.body), true);
    if (withCurrent.check.problems.length === 0) return withCurrent;
  }
  const asIs = await plan(bodies, false);
  if (asIs.check.problems.length > 0) refuse(target, source, asIs.check.problems);
  return asIs;
}

/** Makes the channel's live state exactly the plan's set; returns how many objects changed. */
async function applyPlan(access: StateAccess, target: ChannelTarget, plan: RestorePlan): Promise<number> {
  const base = channelStatePrefix(target);
  const store = access.store(target.bucket);
  const versioned = await versioningEnabled(access.s3, target.bucket);
  const current = versioned
    ? latestVersions(await listVersions(access.s3, target.bucket, base))
    : new Map((await store.list(base)).map((o) => [o.key, undefined]));
  let changed = 0;
  for (const [key, wanted] of plan.objects) {
    if ('version' in wanted) {
      if (current.get(key)?.versionId === wanted.version.versionId) continue;
      await copyVersion(access.s3, target.bucket, wanted.version);
    } else {
      const now = await store.get(key);
      if (now && Buffer.from(now.body).equals(Buffer.from(wanted.body))) continue;
      await store.put(key, wanted.body);
    }
    changed++;
  }
  for (const key of liveKeys(base, current.keys())) {
    if (plan.objects.has(key)) continue;
    await deleteCurrent(access.s3, target.bucket, key);
    changed++;
  }
  return changed;
}

export interface RestoreResult {
  channel: string;
  source: string;
  changed: number;
  lastSeq: number;
  keptCurrentDataKey: boolean;
}

/**
 * The whole restore: plan and check first (a refusal changes nothing), then suspend, wait for the
 * worker to stop, hold the lease, apply, check what the bucket now holds, release and resume.
 */
export async function restoreChannel(
  access: StateAccess,
  target: ChannelTarget,
  plan: () => Promise<RestorePlan>,
  waitMs: number,
  say: (line: string) => void,
): Promise<RestoreResult> {
  const planned = await plan();
  say(
    `${planned.source}: ${planned.check.objects} objects, journal to slot ${planned.check.lastSeq}` +
      (planned.keepsCurrentDataKey ? ", under today's data key record" : ''),
  );
  const held = await holdChannel(access, target, waitMs, say);
  let changed: number;
  try {
    changed = await applyPlan(access, target, planned);
    const after = await checkState(access.store(target.bucket), target, access.kms);
    if (after.problems.length > 0 || after.lastSeq !== planned.check.lastSeq)
      throw new CliError(
        `the restored state of ${describeTarget(target)} does not check (${after.problems
          .map((p) => `${p.key}: ${p.why}`)
          .join('; ')}); the channel stays suspended: run the same restore again`,
      );
  } catch (err) {
    await held.lease.release();
    if (err instanceof CliError) throw err;
    throw new CliError(
      `the restore of ${describeTarget(target)} failed midway (${(err as Error).message}); the channel ` +
        'stays suspended: run the same restore again (it completes what is missing)',
    );
  }
  say(`restored ${changed} objects`);
  await releaseChannel(access, target, held, say);
  return {
    channel: describeTarget(target),
    source: planned.source,
    changed,
    lastSeq: planned.check.lastSeq!,
    keptCurrentDataKey: planned.keepsCurrentDataKey,
  };
}
