/**
 * A per-object lock file for the local-disk object store: `.<name>.lock` beside the object,
 * created with O_EXCL and holding the holder's pid. Every write and delete of the object runs
 * under it, so one writer's check and rename never interleave with another's.
 *
 * A lock left by a process killed inside the few microseconds of its critical section is
 * broken when the pid written in it is no longer alive (local mode runs every worker on
 * this machine, so the pid is meaningful). Breaking takes a second O_EXCL file, so of the
 * writers that find the same dead lock only one removes it: otherwise a later one would
 * remove the lock the first had just taken, and both would write.
 */
import { constants } from 'node:fs';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const LOCK_SUFFIX = '.lock';
const BREAK_SUFFIX = '.break';
/** A break file older than this was left by a writer that died while breaking (it takes microseconds). */
const STALE_BREAK_MS = 5_000;

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** A live holder kept the lock longer than the caller would wait. */
export class LockWaitError extends Error {
  readonly code = 'LockWaitTimedOut';
  constructor(lockFile: string, waitedMs: number) {
    super(`${lockFile} stayed locked for ${waitedMs} ms`);
    this.name = 'LockWaitError';
  }
}

/** Takes the lock of the object stored in `file`, waiting up to `waitMs`; returns its release. */
export async function lockFile(file: string, waitMs: number): Promise<() => Promise<void>> {
  const lock = join(dirname(file), `.${basename(file)}${LOCK_SUFFIX}`);
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lock, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => unlink(lock).catch(() => undefined);
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
    }
    if (await holderIsDead(lock)) {
      await breakDeadLock(lock);
      continue;
    }
    if (Date.now() > deadline) throw new LockWaitError(lock, waitMs);
    await sleep(Math.min(2 + attempt * 2, 25));
  }
}

/**
 * Removes a dead holder's lock, as one writer at a time: under `<lock>.break` (O_EXCL) the lock is
 * judged again before it goes, because another breaker may have removed it and a live writer
 * taken it meanwhile. A writer that finds the break file taken just tries the lock again.
 */
async function breakDeadLock(lockFile: string): Promise<void> {
  const breakFile = `${lockFile}${BREAK_SUFFIX}`;
  try {
    await (await open(breakFile, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600)).close();
  } catch (err) {
    if (errno(err) !== 'EEXIST') throw err;
    const info = await stat(breakFile).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > STALE_BREAK_MS) await unlink(breakFile).catch(() => undefined);
    return;
  }
  try {
    if (await holderIsDead(lockFile)) await unlink(lockFile).catch(() => undefined);
  } finally {
    await unlink(breakFile).catch(() => undefined);
  }
}

/** True when the lock file names a process that no longer exists (killed inside its critical section). */
async function holderIsDead(lockFile: string): Promise<boolean> {
  const text = await readFile(lockFile, 'utf8').catch(() => undefined);
  if (text === undefined) return false; // released meanwhile: just try again
  const pid = Number(text);
  if (text === '' || !Number.isInteger(pid) || pid <= 0) {
    // Being written right now, or its writer died between creating and writing it.
    const info = await stat(lockFile).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs > 1_000;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return errno(err) === 'ESRCH';
  }
}
