/**
 * What a phone reads from a companion's QR code:
 * `https://wa.me/settings/linked_devices#<ref>,<noise key>,<identity key>,<adv secret>,<platform>`
 * (Baileys' buildPairingQRData). The adv secret never travels to the server otherwise: only a
 * phone that saw the QR can MAC the device identity.
 */

export interface QrPayload {
  ref: string;
  noiseKey: Buffer;
  identityKey: Buffer;
  advSecret: Buffer;
  platformId: string;
}

export function parseQr(qr: string): QrPayload {
  const hash = qr.indexOf('#');
  const parts = (hash >= 0 ? qr.slice(hash + 1) : qr).split(',');
  if (parts.length < 4) throw new Error('not a WhatsApp linking QR code');
  const [ref, noise, identity, adv, platformId = ''] = parts as [string, string, string, string, string?];
  const payload = {
    ref,
    noiseKey: Buffer.from(noise, 'base64'),
    identityKey: Buffer.from(identity, 'base64'),
    advSecret: Buffer.from(adv, 'base64'),
    platformId,
  };
  if (
    payload.noiseKey.length !== 32 ||
    payload.identityKey.length !== 32 ||
    payload.advSecret.length !== 32
  ) {
    throw new Error('QR code keys have the wrong length');
  }
  return payload;
}
