/**
 * Typed access to the parts of libsignal (CommonJS) the simulator uses. The package's own
 * index.d.ts leaves out `curve`, so the shapes are declared here once.
 */
import libsignalModule from 'libsignal';

export interface SignalKeyPair {
  /** 33 bytes: 0x05 type byte + the Curve25519 key. */
  pubKey: Buffer;
  privKey: Buffer;
}

export interface SignalStore {
  loadSession(id: string): Promise<SessionRecord | undefined>;
  storeSession(id: string, record: SessionRecord): Promise<void>;
  isTrustedIdentity(id: string, key: Uint8Array): boolean;
  loadPreKey(id: number | string): Promise<SignalKeyPair | undefined>;
  removePreKey(id: number): void;
  loadSignedPreKey(id: number): SignalKeyPair | undefined;
  getOurRegistrationId(): number;
  getOurIdentity(): SignalKeyPair;
}

export interface PreKeyBundle {
  registrationId: number;
  identityKey: Buffer;
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
  preKey?: { keyId: number; publicKey: Buffer };
}

export interface SessionRecord {
  haveOpenSession(): boolean;
  /** A detached plain object (keys as base64). */
  serialize(): object;
}

interface ProtocolAddress {
  toString(): string;
}

interface LibSignal {
  ProtocolAddress: new (name: string, deviceId: number) => ProtocolAddress;
  SessionBuilder: new (
    store: SignalStore,
    addr: ProtocolAddress,
  ) => {
    initOutgoing(bundle: PreKeyBundle): Promise<void>;
  };
  SessionCipher: new (
    store: SignalStore,
    addr: ProtocolAddress,
  ) => {
    encrypt(data: Buffer): Promise<{ type: number; body: Buffer }>;
    decryptPreKeyWhisperMessage(data: Buffer): Promise<Buffer>;
    decryptWhisperMessage(data: Buffer): Promise<Buffer>;
  };
  SessionRecord: { deserialize(serialized: object): SessionRecord };
  curve: {
    generateKeyPair(): SignalKeyPair;
    calculateSignature(privKey: Buffer, message: Buffer): Buffer;
    calculateAgreement(pubKey: Buffer, privKey: Buffer): Buffer;
    /** Returns false for a bad signature (it does not throw). */
    verifySignature(pubKey: Buffer, message: Buffer, signature: Buffer): boolean;
  };
}

export const libsignal = libsignalModule as unknown as LibSignal;

/** The 33-byte form libsignal wants (0x05 prefix); WhatsApp's wire format uses 32 bytes. */
export function withTypeByte(key: Uint8Array): Buffer {
  return key.length === 33 ? Buffer.from(key) : Buffer.concat([Buffer.from([5]), key]);
}

export function withoutTypeByte(key: Uint8Array): Buffer {
  return key.length === 33 ? Buffer.from(key.subarray(1)) : Buffer.from(key);
}

/** XEdDSA signature with a Curve25519 private key (what WhatsApp's certificates use). */
export function sign(privateKey: Buffer, message: Buffer): Buffer {
  return Buffer.from(libsignal.curve.calculateSignature(privateKey, message));
}

/**
 * Strict check: Baileys' own `Curve.verify` accepts any 64-byte signature in rc14, so the
 * simulator never relies on it.
 */
export function verify(publicKey: Uint8Array, message: Buffer, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    return libsignal.curve.verifySignature(withTypeByte(publicKey), message, Buffer.from(signature)) === true;
  } catch {
    return false;
  }
}

/** A Curve25519 key pair in WhatsApp's wire form (32-byte public key). */
export interface KeyPair {
  public: Buffer;
  private: Buffer;
}

export function generateKeyPair(): KeyPair {
  const { pubKey, privKey } = libsignal.curve.generateKeyPair();
  return { public: withoutTypeByte(pubKey), private: Buffer.from(privKey) };
}

/** X25519 shared secret. */
export function sharedKey(privateKey: Buffer, publicKey: Uint8Array): Buffer {
  return Buffer.from(libsignal.curve.calculateAgreement(withTypeByte(publicKey), privateKey));
}
