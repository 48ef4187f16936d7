/**
 * The DataKeyProvider of local mode: a 32-byte key in a file stands in for the KMS key
 * (its format and creation: contract/local-key-file.ts, shared with the local operator).
 * Data keys are wrapped with AES-256-GCM under it, with the encryption context
 * {clinic, channel} as authenticated data, as KMS binds its EncryptionContext: a data
 * key copied to another channel does not unwrap.
 *
 * The key file is created on first use if the operator has not created it yet.
 *
 *   wrapped = "WAK1" | nonce (12 bytes) | encrypted data key (32 bytes) | tag (16 bytes)
 */
import { createHash, randomBytes } from 'node:crypto';
import { KeyFileError, loadOrCreateKeyFile } from '../../../contract/local-key-file.ts';
import {
  KeyUnwrapError,
  type DataKey,
  type DataKeyProvider,
  type EncryptionContext,
} from './key-provider.ts';
import { openFrame, sealFrame } from './envelope.ts';

/** Data keys are AES-256 keys. */
const KEY_BYTES = 32;

// Reading the key file can fail with a KeyFileError; callers classify it with the provider.
export { KeyFileError };

const MAGIC = Buffer.from('WAK1');

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
