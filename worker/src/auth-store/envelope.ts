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
  readonly objectKey: string;
  constructor(key: string, why: string) {
    super(`state object ${key} cannot be read: ${why}; it was left untouched`);
    this.name = 'UnreadableObjectError';
    this.objectKey = key;
  }
}

function aad(place: ObjectPlace): Buffer {
  return Buffer.from(`wa-state/v1\n${place.clinic}\n${place.channel}\n${place.key}`, 'utf8');
}

export function seal(dataKey: Uint8Array, place: ObjectPlace, plaintext: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dataKey, nonce);
  cipher.setAAD(aad(place));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([MAGIC, nonce, body, cipher.getAuthTag()]);
}

export function open(dataKey: Uint8Array, place: ObjectPlace, sealed: Uint8Array): Uint8Array {
  const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (buf.length < MAGIC.length + NONCE_BYTES + TAG_BYTES || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new UnreadableObjectError(place.key, 'not in the encrypted state format (WAE1)');
  }
  const nonce = buf.subarray(MAGIC.length, MAGIC.length + NONCE_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const body = buf.subarray(MAGIC.length + NONCE_BYTES, buf.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', dataKey, nonce);
  decipher.setAAD(aad(place));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new UnreadableObjectError(
      place.key,
      'authentication failed (tampered, corrupt, or written for another channel or object key)',
    );
  }
}
