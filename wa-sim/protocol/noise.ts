/**
 * The server (responder) side of WhatsApp's Noise_XX_25519_AESGCM_SHA256 handshake, and the
 * transport cipher that follows it. Baileys only implements the initiator; this mirrors it
 * step for step (src/Utils/noise-handler.ts).
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import { proto } from '@whiskeysockets/baileys';
import { generateKeyPair, sharedKey, type KeyPair } from '../signal/libsignal.ts';

/** Exactly 32 bytes, so it seeds the hash and chaining key without being hashed. */
const NOISE_MODE = Buffer.from('Noise_XX_25519_AESGCM_SHA256\0\0\0\0');
const TAG_LENGTH = 16;

function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** HKDF-SHA256 with empty info, split into two 32-byte halves. */
function hkdf2(ikm: Uint8Array, salt: Uint8Array): [Buffer, Buffer] {
  const out = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.alloc(0), 64));
  return [out.subarray(0, 32), out.subarray(32)];
}

function iv(counter: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(counter, 8);
  return nonce;
}

function seal(key: Buffer, counter: number, plaintext: Uint8Array, ad: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, iv(counter));
  cipher.setAAD(ad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function open(key: Buffer, counter: number, ciphertext: Uint8Array, ad: Uint8Array): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv(counter));
  decipher.setAAD(ad);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH));
  return Buffer.concat([
    decipher.update(ciphertext.subarray(0, ciphertext.length - TAG_LENGTH)),
    decipher.final(),
  ]);
}

/** Per-direction AES-GCM with an incrementing counter and no associated data. */
export class Transport {
  readonly #writeKey: Buffer;
  readonly #readKey: Buffer;
  #writeCounter = 0;
  #readCounter = 0;

  constructor(writeKey: Buffer, readKey: Buffer) {
    this.#writeKey = writeKey;
    this.#readKey = readKey;
  }

  encrypt(plaintext: Uint8Array): Buffer {
    return seal(this.#writeKey, this.#writeCounter++, plaintext, Buffer.alloc(0));
  }

  decrypt(ciphertext: Uint8Array): Buffer {
    return open(this.#readKey, this.#readCounter++, ciphertext, Buffer.alloc(0));
  }
}

export interface HandshakeResult {
  /** The client's long-term noise key (creds.noiseKey.public). */
  clientStatic: Buffer;
  payload: proto.ClientPayload;
  transport: Transport;
}

export class NoiseResponder {
  readonly #static: KeyPair;
  readonly #certChain: Uint8Array;
  readonly #ephemeral = generateKeyPair();
  #hash: Buffer = NOISE_MODE;
  #chainingKey: Buffer = NOISE_MODE;
  #key: Buffer = NOISE_MODE;
  #counter = 0;
  #clientEphemeral: Buffer | undefined;

  constructor(serverStatic: KeyPair, certChain: Uint8Array) {
    this.#static = serverStatic;
    this.#certChain = certChain;
  }

  /** Answers the client hello: returns the encoded serverHello handshake message. */
  respondToHello(waHeader: Buffer, clientHello: Uint8Array): Buffer {
    const { clientHello: hello } = proto.HandshakeMessage.decode(clientHello);
    const clientEphemeral = hello?.ephemeral;
    if (!clientEphemeral || clientEphemeral.length !== 32)
      throw new Error('client hello without a 32-byte ephemeral');
    this.#clientEphemeral = Buffer.from(clientEphemeral);
    this.#mixHash(waHeader);
    this.#mixHash(clientEphemeral);
    this.#mixHash(this.#ephemeral.public);
    this.#mixKey(sharedKey(this.#ephemeral.private, clientEphemeral));
    const staticCt = this.#encryptAndHash(this.#static.public);
    this.#mixKey(sharedKey(this.#static.private, clientEphemeral));
    const payloadCt = this.#encryptAndHash(this.#certChain);
    return Buffer.from(
      proto.HandshakeMessage.encode({
        serverHello: { ephemeral: this.#ephemeral.public, static: staticCt, payload: payloadCt },
      }).finish(),
    );
  }

  /** Completes the handshake with the client finish message. Throws if it does not authenticate. */
  finish(clientFinishMessage: Uint8Array): HandshakeResult {
    if (!this.#clientEphemeral) throw new Error('client finish before hello');
    const { clientFinish } = proto.HandshakeMessage.decode(clientFinishMessage);
    if (!clientFinish?.static || !clientFinish.payload)
      throw new Error('client finish without static or payload');
    const clientStatic = this.#decryptAndHash(clientFinish.static);
    this.#mixKey(sharedKey(this.#ephemeral.private, clientStatic));
    const payloadBytes = this.#decryptAndHash(clientFinish.payload);
    const [clientWrite, serverWrite] = hkdf2(Buffer.alloc(0), this.#chainingKey);
    return {
      clientStatic,
      payload: proto.ClientPayload.decode(payloadBytes),
      transport: new Transport(serverWrite, clientWrite),
    };
  }

  #mixHash(data: Uint8Array): void {
    this.#hash = sha256(this.#hash, data);
  }

  #mixKey(dh: Buffer): void {
    [this.#chainingKey, this.#key] = hkdf2(dh, this.#chainingKey);
    this.#counter = 0;
  }

  #encryptAndHash(plaintext: Uint8Array): Buffer {
    const ct = seal(this.#key, this.#counter++, plaintext, this.#hash);
    this.#mixHash(ct);
    return ct;
  }

  #decryptAndHash(ciphertext: Uint8Array): Buffer {
    const pt = open(this.#key, this.#counter++, ciphertext, this.#hash);
    this.#mixHash(ciphertext);
    return pt;
  }
}
