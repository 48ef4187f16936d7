/**
 * The format of every stored state object: AES-256-GCM under the channel's data key.
 *
 *   "WAE1" | nonce (12 bytes, random) | ciphertext | tag (16 bytes)
 *
 * The authenticated data binds the object to its place: format version, clinic,
 * channel and the object's key. An object copied to another channel's prefix, or
 * renamed within it, fails authentication instead of being read as valid state.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const MAGIC = Buffer.from('WAE1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface ObjectPlace {
  clinic: string;
  channel: string;
  /** The full object key. */
  key: string;
}

/** An object that cannot be read as this channel's state: corrupt, truncated, foreign or tampered. */
export class UnreadableObjectError extends Error {
  readonly code = 'StateObjectUnreadable';
  readonly objectKey: string;
  /** What is wrong with it, without the key (for a list of objects that names each). */
  readonly why: string;
  constructor(key: string, why: string) {
    super(`state object ${key} cannot be read: ${why}; it was left untouched`);
    this.name = 'UnreadableObjectError';
    this.objectKey = key;
    this.why = why;
  }
}

function aad(place: ObjectPlace): Buffer {
  return Buffer.from(`wa-state/v1\n${place.clinic}\n${place.channel}\n${place.key}`, 'utf8');
}

/**
 * The AES-256-GCM frame shared by the state objects ("WAE1") and local mode's wrapped data keys
 * ("WAK1", local-key-file-provider.ts): magic | nonce | ciphertext | tag, with `aad` authenticated.
 */
export function sealFrame(magic: Buffer, key: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([magic, nonce, body, cipher.getAuthTag()]);
}

/** Opens a `sealFrame`: FrameError 'format' or 'authentication' when it cannot. */
export function openFrame(magic: Buffer, key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer {
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (buf.length < magic.length + NONCE_BYTES + TAG_BYTES || !buf.subarray(0, magic.length).equals(magic))
    throw new FrameError('format', `not in the encrypted format (${magic.toString()})`);
  const decipher = createDecipheriv(
    'aes-256-gcm',
    key,
    buf.subarray(magic.length, magic.length + NONCE_BYTES),
  );
  decipher.setAAD(aad);
  decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(buf.subarray(magic.length + NONCE_BYTES, buf.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    throw new FrameError('authentication', 'authentication failed');
  }
}

export class FrameError extends Error {
  readonly code = 'FrameInvalid';
  readonly kind: 'format' | 'authentication';
  constructor(kind: 'format' | 'authentication', message: string) {
    super(message);
    this.name = 'FrameError';
    this.kind = kind;
  }
}

export function seal(dataKey: Uint8Array, place: ObjectPlace, plaintext: Uint8Array): Uint8Array {
  return sealFrame(MAGIC, dataKey, aad(place), plaintext);
}

export function open(dataKey: Uint8Array, place: ObjectPlace, sealed: Uint8Array): Uint8Array {
  try {
    return openFrame(MAGIC, dataKey, aad(place), sealed);
  } catch (err) {
    throw new UnreadableObjectError(
      place.key,
      (err as FrameError).kind === 'authentication'
        ? 'authentication failed (tampered, corrupt, or written for another channel or object key)'
        : 'not in the encrypted state format (WAE1)',
    );
  }
}
