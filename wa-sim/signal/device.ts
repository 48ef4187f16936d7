/**
 * A simulated Signal device (a phone, device 0 of a simulated account): its own keys, an
 * in-memory libsignal store, and encrypt/decrypt towards peer devices.
 *
 * Peers are always addressed by LID here ("<lid>_1.<device>", the same naming Baileys 7 uses
 * for its own sessions), so a session started by either side is found by the other path.
 */
import { randomInt } from 'node:crypto';
import {
  generateKeyPair,
  libsignal,
  sign,
  withTypeByte,
  type KeyPair,
  type SessionRecord,
  type SignalKeyPair,
  type SignalStore,
} from './libsignal.ts';

/** A pre-key bundle in WhatsApp's wire form (32-byte keys), as `encrypt`/`key` answers carry it. */
export interface WireBundle {
  registrationId: number;
  identityKey: Buffer;
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
  preKey?: { keyId: number; publicKey: Buffer };
}

export interface PeerAddress {
  /** The peer's LID user part (digits). */
  lidUser: string;
  device: number;
}

export type CipherType = 'pkmsg' | 'msg';

function toSignalPair(pair: KeyPair): SignalKeyPair {
  return { pubKey: withTypeByte(pair.public), privKey: pair.private };
}

function address(peer: PeerAddress) {
  return new libsignal.ProtocolAddress(`${peer.lidUser}_1`, peer.device);
}

export class SignalDevice {
  readonly identity: KeyPair;
  readonly registrationId = randomInt(1, 16380);
  readonly signedPreKey: { keyId: number; keyPair: KeyPair; signature: Buffer };
  readonly #preKeys = new Map<number, KeyPair>();
  #nextPreKeyId = 1;
  /** Serialized records: a failed decrypt must not leave a half-mutated session behind. */
  readonly #sessions = new Map<string, object>();
  readonly #store: SignalStore;

  constructor(identity: KeyPair) {
    this.identity = identity;
    const keyPair = generateKeyPair();
    this.signedPreKey = {
      keyId: 1,
      keyPair,
      signature: sign(identity.private, withTypeByte(keyPair.public)),
    };
    this.#store = this.#makeStore();
  }

  /** This device's bundle, with a fresh one-time pre-key (each handed out once). */
  bundle(): WireBundle {
    const keyId = this.#nextPreKeyId++;
    const preKey = generateKeyPair();
    this.#preKeys.set(keyId, preKey);
    return {
      registrationId: this.registrationId,
      identityKey: this.identity.public,
      signedPreKey: {
        keyId: this.signedPreKey.keyId,
        publicKey: this.signedPreKey.keyPair.public,
        signature: this.signedPreKey.signature,
      },
      preKey: { keyId, publicKey: preKey.public },
    };
  }

  hasSession(peer: PeerAddress): boolean {
    const serialized = this.#sessions.get(address(peer).toString());
    return !!serialized && this.#deserialize(serialized).haveOpenSession();
  }

  forgetSession(peer: PeerAddress): void {
    this.#sessions.delete(address(peer).toString());
  }

  /** Starts an outgoing session from the peer's published bundle (the next message is a pkmsg). */
  async startSession(peer: PeerAddress, bundle: WireBundle): Promise<void> {
    await new libsignal.SessionBuilder(this.#store, address(peer)).initOutgoing({
      registrationId: bundle.registrationId,
      identityKey: withTypeByte(bundle.identityKey),
      signedPreKey: {
        keyId: bundle.signedPreKey.keyId,
        publicKey: withTypeByte(bundle.signedPreKey.publicKey),
        signature: bundle.signedPreKey.signature,
      },
      ...(bundle.preKey
        ? { preKey: { keyId: bundle.preKey.keyId, publicKey: withTypeByte(bundle.preKey.publicKey) } }
        : {}),
    });
  }

  async encrypt(peer: PeerAddress, plaintext: Buffer): Promise<{ type: CipherType; ciphertext: Buffer }> {
    const { type, body } = await new libsignal.SessionCipher(this.#store, address(peer)).encrypt(plaintext);
    return { type: type === 3 ? 'pkmsg' : 'msg', ciphertext: Buffer.from(body) };
  }

  async decrypt(peer: PeerAddress, type: CipherType, ciphertext: Buffer): Promise<Buffer> {
    const cipher = new libsignal.SessionCipher(this.#store, address(peer));
    return type === 'pkmsg'
      ? cipher.decryptPreKeyWhisperMessage(ciphertext)
      : cipher.decryptWhisperMessage(ciphertext);
  }

  #deserialize(serialized: object): SessionRecord {
    return libsignal.SessionRecord.deserialize(serialized);
  }

  #makeStore(): SignalStore {
    return {
      loadSession: async (id) => {
        const serialized = this.#sessions.get(id);
        return serialized ? this.#deserialize(serialized) : undefined;
      },
      storeSession: async (id, record) => {
        this.#sessions.set(id, record.serialize());
      },
      // Trust on first use, like WhatsApp clients.
      isTrustedIdentity: () => true,
      loadPreKey: async (id) => {
        const pair = this.#preKeys.get(Number(id));
        return pair ? toSignalPair(pair) : undefined;
      },
      removePreKey: (id) => void this.#preKeys.delete(Number(id)),
      loadSignedPreKey: (id) =>
        id === this.signedPreKey.keyId ? toSignalPair(this.signedPreKey.keyPair) : undefined,
      getOurRegistrationId: () => this.registrationId,
      getOurIdentity: () => toSignalPair(this.identity),
    };
  }
}
