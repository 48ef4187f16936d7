/**
 * The simulator's own certificate authority. Baileys checks the Noise certificate chain
 * (intermediate signed by WA_CERT_DETAILS.PUBLIC_KEY, leaf signed by the intermediate, the
 * intermediate's issuerSerial equal to WA_CERT_DETAILS.SERIAL); the simulator signs its chain
 * with a root key of its own, and a client trusts it by swapping in that root's public key.
 */
import { proto } from '@whiskeysockets/baileys';
import { generateKeyPair, sign, type KeyPair } from '../signal/libsignal.ts';

/** The serial Baileys expects as the intermediate's issuer (WA_CERT_DETAILS.SERIAL). */
export const ROOT_SERIAL = 0;
const INTERMEDIATE_SERIAL = 1;
const LEAF_SERIAL = 2;
const YEAR_SECONDS = 365 * 24 * 3600;

export type TrustRoot = KeyPair;

let processRoot: TrustRoot | undefined;

/**
 * One root per process by default: Baileys reads WA_CERT_DETAILS process-wide, so every
 * simulator in a process signing with the same root lets a single trust setting cover them all.
 */
export function defaultTrustRoot(): TrustRoot {
  processRoot ??= generateKeyPair();
  return processRoot;
}

function certificate(details: proto.CertChain.NoiseCertificate.IDetails, signer: Buffer) {
  const encoded = Buffer.from(proto.CertChain.NoiseCertificate.Details.encode(details).finish());
  return { details: encoded, signature: sign(signer, encoded) };
}

/** Encoded proto.CertChain for a server static key, signed root → intermediate → leaf. */
export function buildCertChain(root: TrustRoot, serverStaticPublic: Buffer): Buffer {
  const intermediate = generateKeyPair();
  const now = Math.floor(Date.now() / 1000);
  const validity = { notBefore: now - 3600, notAfter: now + YEAR_SECONDS };
  return Buffer.from(
    proto.CertChain.encode({
      intermediate: certificate(
        // issuerSerial must be written even though it is 0: an absent field decodes as null,
        // and Baileys compares it with === to WA_CERT_DETAILS.SERIAL.
        { serial: INTERMEDIATE_SERIAL, issuerSerial: ROOT_SERIAL, key: intermediate.public, ...validity },
        root.private,
      ),
      leaf: certificate(
        { serial: LEAF_SERIAL, issuerSerial: INTERMEDIATE_SERIAL, key: serverStaticPublic, ...validity },
        intermediate.private,
      ),
    }).finish(),
  );
}
