/**
 * The phone's side of linking a companion (ADV): the signed device identity carried by
 * `pair-success`, and the check of the companion's counter-signature in its reply.
 */
import { createHmac, randomInt } from 'node:crypto';
import { proto, WA_ADV_ACCOUNT_SIG_PREFIX, WA_ADV_DEVICE_SIG_PREFIX } from '@whiskeysockets/baileys';
import { sign, verify, type KeyPair } from '../signal/libsignal.ts';

export interface SignedIdentity {
  /** Encoded ADVSignedDeviceIdentityHMAC: the `<device-identity>` content of pair-success. */
  container: Buffer;
  /** Encoded ADVDeviceIdentity, which both signatures cover. */
  details: Buffer;
}

/** Builds the identity the phone (account key) vouches for, MACed with the companion's adv secret. */
export function signDeviceIdentity(
  accountKey: KeyPair,
  companionIdentity: Buffer,
  keyIndex: number,
  advSecret: Buffer,
): SignedIdentity {
  const details = Buffer.from(
    proto.ADVDeviceIdentity.encode({
      rawId: randomInt(1, 2 ** 31),
      timestamp: Math.floor(Date.now() / 1000),
      // Mandatory: Baileys reads keyIndex.toString() for its reply.
      keyIndex,
      accountType: proto.ADVEncryptionType.E2EE,
      deviceType: proto.ADVEncryptionType.E2EE,
    }).finish(),
  );
  const accountSignature = sign(
    accountKey.private,
    Buffer.concat([WA_ADV_ACCOUNT_SIG_PREFIX, details, companionIdentity]),
  );
  const signed = Buffer.from(
    proto.ADVSignedDeviceIdentity.encode({
      details,
      accountSignatureKey: accountKey.public,
      accountSignature,
    }).finish(),
  );
  const hmac = createHmac('sha256', advSecret).update(signed).digest();
  return {
    container: Buffer.from(proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish()),
    details,
  };
}

/**
 * Checks the companion's reply (`pair-device-sign`): the same details and account signature,
 * plus its device signature over details, its identity and the account key.
 */
export function verifyDeviceSignature(
  reply: Uint8Array,
  sent: SignedIdentity,
  accountKey: KeyPair,
  companionIdentity: Buffer,
): string | undefined {
  const identity = proto.ADVSignedDeviceIdentity.decode(reply);
  if (!identity.details || !Buffer.from(identity.details).equals(sent.details)) return 'details changed';
  if (!identity.deviceSignature) return 'no device signature';
  const message = Buffer.concat([
    WA_ADV_DEVICE_SIG_PREFIX,
    sent.details,
    companionIdentity,
    accountKey.public,
  ]);
  return verify(companionIdentity, message, identity.deviceSignature) ? undefined : 'bad device signature';
}
