/**
 * The cache the image and node harness shares with the server binaries (~/.cache/wa-operator,
 * beside servers/), and a cross-process lock: two jest workers, or two test runs side by side,
 * must not build the same image or start the same engine twice.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serversCacheDir } from '../../../local-servers/server-binary.ts';

export function cacheDir(): string {
  return dirname(serversCacheDir());
}

/** Runs `job` holding `lockFile`. */
export async function withLock<T>(
  lockFile: string,
  log: (line: string) => void,
  what: string,
  job: () => Promise<T>,
): Promise<T> {
  const release = await acquireLock(lockFile, log, what);
  try {
    return await job();
  } finally {
    await release();
  }
}

/** Takes `lockFile` (created exclusively with our pid), waiting while a live process holds it; resolves to its release. */
export async function acquireLock(
  lockFile: string,
  log: (line: string) => void,
  what: string,
): Promise<() => Promise<void>> {
  let announced = false;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(lockFile, 'utf8').catch(() => '')) || NaN);
    if (Number.isInteger(holder) && !isAlive(holder)) {
      await rm(lockFile, { force: true }); // its holder died: the next round takes it
      continue;
    }
    if (!announced) log(`waiting for process ${holder}: ${what}`);
    announced = true;
    await sleep(1_000);
  }
  return () => rm(lockFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
