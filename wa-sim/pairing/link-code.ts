/**
 * The phone's cryptography for pairing by code (Baileys' requestPairingCode): the companion
 * wraps an ephemeral key under PBKDF2(code); the phone unwraps it, wraps its own, and both
 * derive the adv secret from two Diffie-Hellman results and a random value the companion sends
 * back encrypted (link_code_pairing_wrapped_key_bundle).
 */
import { createCipheriv, createDecipheriv, hkdfSync, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { generateKeyPair, sharedKey, type KeyPair } from '../signal/libsignal.ts';

const pbkdf2Async = promisify(pbkdf2);
/** 2 << 16, as the client uses. */
const PBKDF2_ITERATIONS = 131_072;

function codeKey(code: string, salt: Buffer): Promise<Buffer> {
  return pbkdf2Async(Buffer.from(code, 'utf8'), salt, PBKDF2_ITERATIONS, 32, 'sha256');
}

function ctr(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/** salt(32) ‖ iv(16) ‖ AES-CTR(key(code, salt), iv, public key(32)). */
export async function unwrapKey(code: string, wrapped: Buffer): Promise<Buffer> {
  if (wrapped.length !== 80) throw new Error(`wrapped key has ${wrapped.length} bytes, expected 80`);
  const key = await codeKey(code, wrapped.subarray(0, 32));
  return ctr(key, wrapped.subarray(32, 48), wrapped.subarray(48, 80));
}

export async function wrapKey(code: string, publicKey: Buffer): Promise<Buffer> {
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  return Buffer.concat([salt, iv, ctr(await codeKey(code, salt), iv, publicKey)]);
}

export interface PhoneLinkState {
  ephemeral: KeyPair;
  /** DH(phone ephemeral, companion ephemeral). */
  shared: Buffer;
}

export function startPhoneSide(companionEphemeral: Buffer): PhoneLinkState {
  const ephemeral = generateKeyPair();
  return { ephemeral, shared: sharedKey(ephemeral.private, companionEphemeral) };
}

/**
 * Opens the companion's key bundle (salt(32) ‖ iv(12) ‖ AES-GCM) and derives the adv secret.
 * Throws when the bundle does not authenticate, which is what a wrong code leads to.
 */
export function finishPhoneSide(
  state: PhoneLinkState,
  accountKey: KeyPair,
  wrappedBundle: Buffer,
): { companionIdentity: Buffer; advSecret: Buffer } {
  const salt = wrappedBundle.subarray(0, 32);
  const iv = wrappedBundle.subarray(32, 44);
  const sealed = wrappedBundle.subarray(44);
  const key = Buffer.from(
    hkdfSync('sha256', state.shared, salt, 'link_code_pairing_key_bundle_encryption_key', 32),
  );
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  const plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  const companionIdentity = plain.subarray(0, 32);
  const primaryIdentity = plain.subarray(32, 64);
  const random = plain.subarray(64, 96);
  if (!primaryIdentity.equals(accountKey.public)) throw new Error('key bundle names another phone');
  const identityShared = sharedKey(accountKey.private, companionIdentity);
  const advSecret = Buffer.from(
    hkdfSync(
      'sha256',
      Buffer.concat([state.shared, identityShared, random]),
      Buffer.alloc(0),
      'adv_secret',
      32,
    ),
  );
  return { companionIdentity: Buffer.from(companionIdentity), advSecret };
}
