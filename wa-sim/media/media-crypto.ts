/**
 * WhatsApp's media encryption, as a phone does it: a random 32-byte media key expanded with HKDF
 * (info "WhatsApp <Type> Keys") into IV, AES-256-CBC key and MAC key; the upload is the
 * ciphertext followed by the first 10 bytes of HMAC-SHA256(iv ‖ ciphertext). Written from the
 * protocol, not from Baileys' helpers, so a simulator phone checks Baileys rather than itself.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';

/** Media types a phone sends, and the HKDF label each uses (MEDIA_HKDF_KEY_MAPPING). */
export const MEDIA_KEY_LABELS = {
  image: 'Image',
  sticker: 'Image',
  video: 'Video',
  audio: 'Audio',
  ptt: 'Audio',
  document: 'Document',
} as const;
export type MediaKeyType = keyof typeof MEDIA_KEY_LABELS;

const MAC_LENGTH = 10;

export interface MediaKeys {
  iv: Buffer;
  cipherKey: Buffer;
  macKey: Buffer;
}

export function expandMediaKey(mediaKey: Uint8Array, type: MediaKeyType): MediaKeys {
  const expanded = Buffer.from(
    hkdfSync('sha256', mediaKey, Buffer.alloc(32), `WhatsApp ${MEDIA_KEY_LABELS[type]} Keys`, 112),
  );
  return {
    iv: expanded.subarray(0, 16),
    cipherKey: expanded.subarray(16, 48),
    macKey: expanded.subarray(48, 80),
  };
}

export interface EncryptedMedia {
  mediaKey: Buffer;
  /** What is uploaded: ciphertext ‖ 10-byte MAC. */
  encrypted: Buffer;
  fileSha256: Buffer;
  fileEncSha256: Buffer;
  fileLength: number;
}

export function encryptMedia(plaintext: Uint8Array, type: MediaKeyType): EncryptedMedia {
  const mediaKey = randomBytes(32);
  const { iv, cipherKey, macKey } = expandMediaKey(mediaKey, type);
  const cipher = createCipheriv('aes-256-cbc', cipherKey, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const mac = createHmac('sha256', macKey).update(iv).update(ciphertext).digest().subarray(0, MAC_LENGTH);
  const encrypted = Buffer.concat([ciphertext, mac]);
  return {
    mediaKey,
    encrypted,
    fileSha256: createHash('sha256').update(plaintext).digest(),
    fileEncSha256: createHash('sha256').update(encrypted).digest(),
    fileLength: plaintext.length,
  };
}

/** Checks the MAC (and the hashes when given) and decrypts; throws on any mismatch. */
export function decryptMedia(
  encrypted: Uint8Array,
  mediaKey: Uint8Array,
  type: MediaKeyType,
  expected: { fileSha256?: Uint8Array | null; fileEncSha256?: Uint8Array | null } = {},
): Buffer {
  const data = Buffer.from(encrypted);
  if (data.length < MAC_LENGTH + 16) throw new Error(`media too short (${data.length} bytes)`);
  if (expected.fileEncSha256 && !createHash('sha256').update(data).digest().equals(expected.fileEncSha256))
    throw new Error('fileEncSha256 mismatch');
  const { iv, cipherKey, macKey } = expandMediaKey(mediaKey, type);
  const ciphertext = data.subarray(0, data.length - MAC_LENGTH);
  const mac = createHmac('sha256', macKey).update(iv).update(ciphertext).digest().subarray(0, MAC_LENGTH);
  if (!timingSafeEqual(mac, data.subarray(data.length - MAC_LENGTH))) throw new Error('media MAC mismatch');
  const decipher = createDecipheriv('aes-256-cbc', cipherKey, iv);
  const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  if (expected.fileSha256 && !createHash('sha256').update(plaintext).digest().equals(expected.fileSha256))
    throw new Error('fileSha256 mismatch');
  return plaintext;
}

/** The key of the media re-upload exchange (HKDF of the media key, "WhatsApp Media Retry Notification"). */
export function mediaRetryKey(mediaKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', mediaKey, Buffer.alloc(32), 'WhatsApp Media Retry Notification', 32));
}

/** AES-256-GCM with the message id as additional data, as the re-upload notification is sealed. */
export function sealRetryNotification(
  plaintext: Uint8Array,
  mediaKey: Uint8Array,
  messageId: string,
): { ciphertext: Buffer; iv: Buffer } {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', mediaRetryKey(mediaKey), iv);
  cipher.setAAD(Buffer.from(messageId));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { ciphertext, iv };
}
