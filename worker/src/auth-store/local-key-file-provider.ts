/**
 * The DataKeyProvider of local mode: a 32-byte key in a file stands in for the KMS key.
 * Data keys are wrapped with AES-256-GCM under it, with the encryption context
 * {clinic, channel} as authenticated data, as KMS binds its EncryptionContext: a data
 * key copied to another channel does not unwrap.
 *
 * The key file is created on first use (0600, O_EXCL, so two workers starting at once
 * agree on one key) and refused when others may read it, as ssh refuses a private key.
 *
 *   wrapped = "WAK1" | nonce (12 bytes) | encrypted data key (32 bytes) | tag (16 bytes)
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  KeyUnwrapError,
  type DataKey,
  type DataKeyProvider,
  type EncryptionContext,
} from './key-provider.ts';
import { openFrame, sealFrame } from './envelope.ts';

const KEY_BYTES = 32;
const MAGIC = Buffer.from('WAK1');

export class KeyFileError extends Error {
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
      await handle.writeFile(randomBytes(KEY_BYTES));
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
  if (key.length !== KEY_BYTES) {
    throw new KeyFileError(`the key file ${file} holds ${key.length} bytes, not ${KEY_BYTES}`);
  }
  return key;
}

/** AAD of a wrapped data key: the encryption context, in a fixed order. */
function contextBytes(context: EncryptionContext): Buffer {
  return Buffer.from(`wa-datakey/v1\n${context.clinic}\n${context.channel}`, 'utf8');
}

export class LocalKeyFileProvider implements DataKeyProvider {
  /** `local:<fingerprint>`, so state written under a different key file is recognisable. */
  readonly keyId: string;
  private readonly key: Buffer;

  private constructor(key: Buffer) {
    this.key = key;
    this.keyId = `local:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
  }

  /** The provider of a key file, read (or created) now. */
  static async open(file: string): Promise<LocalKeyFileProvider> {
    return new LocalKeyFileProvider(await loadOrCreateKeyFile(file));
  }

  async generate(context: EncryptionContext): Promise<DataKey> {
    const key = this.key;
    const plaintext = randomBytes(KEY_BYTES);
    return { plaintext, wrapped: sealFrame(MAGIC, key, contextBytes(context), plaintext) };
  }

  async unwrap(wrapped: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    const key = this.key;
    try {
      const plaintext = openFrame(MAGIC, key, contextBytes(context), wrapped);
      if (plaintext.length !== KEY_BYTES) throw new Error('not a data key wrapped by a local key file');
      return plaintext;
    } catch (err) {
      throw new KeyUnwrapError(context, err);
    }
  }
}
