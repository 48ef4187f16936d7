/**
 * The local key file of local mode: 32 random bytes (an AES-256 key) that stand in for the
 * KMS key. The operator in local mode creates it before it starts any worker; each worker
 * reads it (WA_KEY_FILE) to wrap and unwrap its data keys (worker/src/auth-store/
 * local-key-file-provider.ts). Both sides read and create it here, so they agree on its format.
 *
 * It is created 0600 with O_EXCL (two processes starting at once agree on one key), in a 0700
 * folder, and refused when others may read it, as ssh refuses a private key.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const LOCAL_KEY_BYTES = 32;

export class KeyFileError extends Error {
  readonly code = 'KeyFileInvalid';
  constructor(message: string) {
    super(message);
    this.name = 'KeyFileError';
  }
}

/** Reads the key file, creating it (0600, in a 0700 folder) if it does not exist yet. */
export async function loadOrCreateKeyFile(file: string): Promise<Buffer> {
  if (!isAbsolute(file)) throw new KeyFileError(`the key file must be an absolute path, got ${file}`);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  try {
    const handle = await open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
    try {
      await handle.writeFile(randomBytes(LOCAL_KEY_BYTES));
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const info = await stat(file);
  if ((info.mode & 0o077) !== 0) {
    throw new KeyFileError(
      `the key file ${file} may be read by other users (mode ${(info.mode & 0o777).toString(8)}); ` +
        `run chmod 600 ${file}`,
    );
  }
  let key = await readFile(file);
  // A file still being written by a concurrent creator is empty for a moment.
  for (let i = 0; key.length === 0 && i < 40; i++) {
    await sleep(25);
    key = await readFile(file);
  }
  if (key.length !== LOCAL_KEY_BYTES) {
    throw new KeyFileError(`the key file ${file} holds ${key.length} bytes, not ${LOCAL_KEY_BYTES}`);
  }
  return key;
}
