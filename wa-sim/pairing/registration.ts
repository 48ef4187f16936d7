/**
 * A new device waiting to be linked: what its registration payload told the server (its Signal
 * identity and signed pre-key, its noise key) and the QR refs it was handed.
 */
import { randomBytes } from 'node:crypto';
import { proto } from '@whiskeysockets/baileys';
import type { ClientSession } from '../server/client-session.ts';
import type { BinaryNode } from '../protocol/nodes.ts';
import { readUint, SERVER_JID } from '../protocol/nodes.ts';
import type { PhoneLinkState } from './link-code.ts';

export interface LinkCodeRequest {
  /** The phone number the companion asked to pair with ("<pn>@s.whatsapp.net"). */
  phoneJid: string;
  wrappedEphemeral: Buffer;
  ref: Buffer;
  /** Set once the phone entered the code and sent its half. */
  phone?: PhoneLinkState;
  /** Resolves with the companion's wrapped key bundle (companion_finish). */
  finished?: (bundle: Buffer) => void;
}

export interface Registration {
  session: ClientSession;
  noiseKey: Buffer;
  registrationId: number;
  identityKey: Buffer;
  signedPreKey: { keyId: number; publicKey: Buffer; signature: Buffer };
  platform: string;
  refs: string[];
  linkCode?: LinkCodeRequest;
  /** A phone is linking it right now (a second scan must not race the first). */
  linking: boolean;
}

export function registrationFrom(
  session: ClientSession,
  noiseKey: Buffer,
  data: proto.ClientPayload.IDevicePairingRegistrationData,
  refCount: number,
): Registration {
  const registrationId = readUint(data.eRegid ? Buffer.from(data.eRegid) : undefined);
  const keyId = readUint(data.eSkeyId ? Buffer.from(data.eSkeyId) : undefined);
  if (registrationId === undefined || keyId === undefined || data.eIdent?.length !== 32) {
    throw new Error('registration payload without registration id, identity or signed pre-key');
  }
  if (data.eSkeyVal?.length !== 32 || data.eSkeySig?.length !== 64)
    throw new Error('bad signed pre-key in registration');
  const props = data.deviceProps ? proto.DeviceProps.decode(data.deviceProps) : undefined;
  return {
    session,
    noiseKey,
    registrationId,
    identityKey: Buffer.from(data.eIdent),
    signedPreKey: { keyId, publicKey: Buffer.from(data.eSkeyVal), signature: Buffer.from(data.eSkeySig) },
    platform: props?.os ?? 'unknown',
    // Real refs look like "2@<base64>"; the client treats them as opaque strings.
    refs: Array.from({ length: refCount }, () => `2@${randomBytes(18).toString('base64')}`),
    linking: false,
  };
}

/** `pair-device` must be an iq of type "set" whose first child is pair-device (the client's dispatch key). */
export function pairDeviceNode(refs: string[]): BinaryNode {
  return {
    tag: 'iq',
    attrs: { from: SERVER_JID, type: 'set', xmlns: 'md', id: `pair.${randomBytes(4).toString('hex')}` },
    content: [
      {
        tag: 'pair-device',
        attrs: {},
        content: refs.map((ref) => ({ tag: 'ref', attrs: {}, content: Buffer.from(ref, 'utf8') })),
      },
    ],
  };
}
