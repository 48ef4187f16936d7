/**
 * Trusting the WhatsApp Web protocol simulator (tests and demos only).
 *
 * Baileys checks the server's Noise certificate chain against WA_CERT_DETAILS (an exported,
 * mutable object in Defaults). With WA_WS_URL + WA_TRUST_ROOT configured, the worker replaces
 * the root public key (and, if given, the issuer name and serial) with the simulator's before
 * the first socket. Nothing else in Baileys changes, and without that configuration the
 * worker never touches it.
 */
import { readFile } from 'node:fs/promises';
import { WA_CERT_DETAILS } from '@whiskeysockets/baileys';

export interface TrustRoot {
  publicKey: Buffer;
  issuer?: string;
  serial?: number;
}

/**
 * Accepts a file holding the 32-byte Curve25519 public key as raw bytes, hex or base64, or a
 * JSON object `{ "publicKey": "<hex|base64>", "issuer"?: string, "serial"?: number }`.
 */
export function parseTrustRoot(content: Buffer): TrustRoot {
  if (content.length === 32) return { publicKey: Buffer.from(content) };
  const text = content.toString('utf8').trim();
  if (text.startsWith('{')) {
    const json = JSON.parse(text) as { publicKey?: unknown; issuer?: unknown; serial?: unknown };
    if (typeof json.publicKey !== 'string') throw new Error('trust root JSON needs a "publicKey" string');
    const root: TrustRoot = { publicKey: decodeKey(json.publicKey) };
    if (json.issuer !== undefined) {
      if (typeof json.issuer !== 'string') throw new Error('trust root "issuer" must be a string');
      root.issuer = json.issuer;
    }
    if (json.serial !== undefined) {
      if (!Number.isInteger(json.serial)) throw new Error('trust root "serial" must be an integer');
      root.serial = json.serial as number;
    }
    return root;
  }
  return { publicKey: decodeKey(text) };
}

function decodeKey(text: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== 32) throw new Error(`trust root key must be 32 bytes, got ${key.length}`);
  return key;
}

export function applyTrustRoot(root: TrustRoot): void {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(root.publicKey) as typeof WA_CERT_DETAILS.PUBLIC_KEY;
  if (root.issuer !== undefined) WA_CERT_DETAILS.ISSUER = root.issuer;
  if (root.serial !== undefined) WA_CERT_DETAILS.SERIAL = root.serial;
}

/**
 * WA_TRUST_ROOT: the root key itself (64 hex characters: a worker pod in a cluster has no volume
 * for a file, and the key is public), or the path of a file holding it.
 */
export async function loadTrustRoot(keyOrFile: string): Promise<TrustRoot> {
  if (/^[0-9a-fA-F]{64}$/.test(keyOrFile)) return { publicKey: decodeKey(keyOrFile) };
  return parseTrustRoot(await readFile(keyOrFile));
}
