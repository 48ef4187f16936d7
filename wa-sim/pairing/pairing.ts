/**
 * Linking new companion devices, with the simulated phone in the role a real phone plays:
 * scanning the QR code, or entering the pairing code the companion displays. Both end the
 * same way: `pair-success` with a device identity signed by the account key, the companion's
 * counter-signed reply checked, then the 515 restart the client expects.
 */
import { randomBytes } from 'node:crypto';
import type { proto } from '@whiskeysockets/baileys';
import type { Account, CompanionDevice } from '../accounts/directory.ts';
import { deviceJid, deviceLid } from '../accounts/directory.ts';
import {
  bytes,
  child,
  iqError,
  iqResult,
  SERVER_JID,
  unixSeconds,
  type BinaryNode,
} from '../protocol/nodes.ts';
import type { ClientSession } from '../server/client-session.ts';
import { signDeviceIdentity, verifyDeviceSignature } from './device-identity.ts';
import { finishPhoneSide, startPhoneSide, unwrapKey, wrapKey } from './link-code.ts';
import { parseQr } from './qr.ts';
import { waitUntil } from '../wait.ts';
import { pairDeviceNode, registrationFrom, type Registration } from './registration.ts';

export interface PairingHost {
  /** A companion was linked; the host records it and restarts its connection (515). */
  paired(registration: Registration, companion: CompanionDevice): void;
}

export interface PairingOptions {
  /** Refs per pair-device (each QR lives 60 s, then 20 s; the client gives up when they run out). */
  qrRefs: number;
  /** How long the phone waits for the companion's answers. */
  replyTimeoutMs: number;
}

export class Pairing {
  readonly #host: PairingHost;
  readonly #options: PairingOptions;
  readonly #registrations = new Set<Registration>();

  constructor(host: PairingHost, options: PairingOptions) {
    this.#host = host;
    this.#options = options;
  }

  /** A registration payload arrived: remember the device and send it QR refs. */
  begin(
    session: ClientSession,
    noiseKey: Buffer,
    data: proto.ClientPayload.IDevicePairingRegistrationData,
  ): void {
    const registration = registrationFrom(session, noiseKey, data, this.#options.qrRefs);
    session.registration = registration;
    this.#registrations.add(registration);
    session.send(pairDeviceNode(registration.refs));
  }

  ended(session: ClientSession): void {
    if (session.registration) this.#registrations.delete(session.registration);
  }

  /** Connections currently waiting to be linked. */
  pending(): Registration[] {
    return [...this.#registrations].filter((r) => r.session.conn.isOpen);
  }

  /** The phone of `account` scans a QR string the companion displayed. */
  async scanQr(account: Account, qr: string): Promise<CompanionDevice> {
    const scanned = parseQr(qr);
    const registration = this.pending().find((r) => r.refs.includes(scanned.ref));
    if (!registration) throw new Error('QR code is not (or no longer) shown by any connected device');
    if (!registration.noiseKey.equals(scanned.noiseKey))
      throw new Error('QR noise key does not match the connection');
    if (!registration.identityKey.equals(scanned.identityKey))
      throw new Error('QR identity does not match the registration');
    return this.#link(registration, account, scanned.advSecret);
  }

  /** The phone of `account` enters the code the companion showed after requestPairingCode. */
  async enterCode(account: Account, code: string): Promise<CompanionDevice> {
    const normalized = code.replace(/[\s-]/g, '').toUpperCase();
    // requestPairingCode() returns before its request reaches the server: allow it to arrive.
    const registration = await waitUntil(
      () =>
        this.pending()
          .filter((r) => r.linkCode && !r.linkCode.phone && r.linkCode.phoneJid.split('@')[0] === account.pn)
          .at(-1),
      this.#options.replyTimeoutMs,
      `a device waiting for a pairing code for ${account.pn}`,
    );
    const link = registration.linkCode!;
    // A wrong code unwraps to a wrong (but valid-looking) key: it only shows when the companion's
    // key bundle fails to authenticate below.
    link.phone = startPhoneSide(await unwrapKey(normalized, link.wrappedEphemeral));
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<Buffer>((resolve, reject) => {
      link.finished = resolve;
      timer = setTimeout(
        () => reject(new Error('companion did not finish code pairing')),
        this.#options.replyTimeoutMs,
      );
    }).finally(() => clearTimeout(timer));
    registration.session.send(
      this.#primaryHello(account, link.ref, await wrapKey(normalized, link.phone.ephemeral.public)),
    );
    const bundle = await finished;
    let opened: ReturnType<typeof finishPhoneSide>;
    try {
      opened = finishPhoneSide(link.phone, account.identity, bundle);
    } catch {
      throw new Error('wrong pairing code');
    }
    if (!opened.companionIdentity.equals(registration.identityKey))
      throw new Error('code pairing: identity mismatch');
    return this.#link(registration, account, opened.advSecret);
  }

  /** `link_code_companion_reg` queries from a registering companion. */
  onLinkCodeIq(session: ClientSession, iq: BinaryNode): BinaryNode {
    const reg = child(iq, 'link_code_companion_reg');
    const registration = session.registration;
    const id = iq.attrs.id ?? '';
    if (!reg || !registration) return iqError(id, 400, 'bad-request');
    if (reg.attrs.stage === 'companion_hello') {
      const wrapped = bytes(child(reg, 'link_code_pairing_wrapped_companion_ephemeral_pub'));
      const serverAuthKey = bytes(child(reg, 'companion_server_auth_key_pub'));
      if (!wrapped || !reg.attrs.jid || !serverAuthKey?.equals(registration.noiseKey))
        return iqError(id, 400, 'bad-request');
      const ref = Buffer.from(`2@${randomBytes(12).toString('base64')}`);
      registration.linkCode = { phoneJid: reg.attrs.jid, wrappedEphemeral: wrapped, ref };
      return iqResult(id, [
        {
          tag: 'link_code_companion_reg',
          attrs: {},
          content: [{ tag: 'link_code_pairing_ref', attrs: {}, content: ref }],
        },
      ]);
    }
    if (reg.attrs.stage === 'companion_finish') {
      const bundle = bytes(child(reg, 'link_code_pairing_wrapped_key_bundle'));
      const finished = registration.linkCode?.finished;
      if (!bundle || !finished) return iqError(id, 400, 'bad-request');
      finished(bundle);
      return iqResult(id);
    }
    return iqError(id, 400, 'bad-request');
  }

  #primaryHello(account: Account, ref: Buffer, wrappedPrimary: Buffer): BinaryNode {
    return {
      tag: 'notification',
      attrs: {
        from: SERVER_JID,
        type: 'link_code_companion_reg',
        id: `lc.${randomBytes(4).toString('hex')}`,
        t: unixSeconds(),
      },
      content: [
        {
          tag: 'link_code_companion_reg',
          attrs: {},
          content: [
            { tag: 'link_code_pairing_ref', attrs: {}, content: ref },
            { tag: 'primary_identity_pub', attrs: {}, content: account.identity.public },
            { tag: 'link_code_pairing_wrapped_primary_ephemeral_pub', attrs: {}, content: wrappedPrimary },
          ],
        },
      ],
    };
  }

  async #link(registration: Registration, account: Account, advSecret: Buffer): Promise<CompanionDevice> {
    if (registration.linking) throw new Error('this device is already being linked');
    registration.linking = true;
    const { device, keyIndex } = account.allocateDevice();
    const identity = signDeviceIdentity(account.identity, registration.identityKey, keyIndex, advSecret);
    const reply = await registration.session.request(
      {
        tag: 'iq',
        attrs: { from: SERVER_JID, type: 'set', xmlns: 'md', t: unixSeconds() },
        content: [
          {
            tag: 'pair-success',
            attrs: {},
            content: [
              { tag: 'device-identity', attrs: {}, content: identity.container },
              { tag: 'platform', attrs: { name: 'android' } },
              { tag: 'device', attrs: { jid: deviceJid(account, device), lid: deviceLid(account, device) } },
            ],
          },
        ],
      },
      this.#options.replyTimeoutMs,
    );
    const signedReply = bytes(child(child(reply, 'pair-device-sign'), 'device-identity'));
    if (reply.attrs.type !== 'result' || !signedReply) throw new Error('companion rejected pair-success');
    const problem = verifyDeviceSignature(signedReply, identity, account.identity, registration.identityKey);
    if (problem) throw new Error(`companion's device identity: ${problem}`);
    const companion: CompanionDevice = {
      account,
      device,
      keyIndex,
      noiseKey: registration.noiseKey,
      registrationId: registration.registrationId,
      identityKey: registration.identityKey,
      signedPreKey: registration.signedPreKey,
      preKeys: new Map(),
      platform: registration.platform,
      pairedAt: Date.now(),
      removed: false,
    };
    account.companions.set(device, companion);
    this.#registrations.delete(registration);
    this.#host.paired(registration, companion);
    return companion;
  }
}
