/**
 * Linking the channel to a phone: QR codes or a pairing code, for the socket currently open.
 *
 * - QR codes are bounded (`maxQrCodes` per socket); past the limit the socket is closed and the
 *   channel waits for a `pair` command instead of showing codes nobody scans;
 * - in code mode the code is requested once per socket, when the server first offers pairing
 *   (Baileys' first QR event), and the QR itself is never published;
 * - a `pair` command is refused for a channel that is already linked.
 *
 * The supervisor owns the socket and the phase; this module tells it what to do through
 * `PairingDeps` and never keeps a socket past the call it was given one in.
 */
import type { Logger } from 'pino';
import { PairingRefusedError } from './session-port.ts';
import type { PairingPayload, SessionSocket } from './ports.ts';

export interface PairingOptions {
  maxQrCodes: number;
  pairing: 'qr' | 'code';
  phoneNumber: string | undefined;
}

export interface PairingDeps {
  options: PairingOptions;
  isRegistered: () => boolean;
  /** Publishes a QR code or pairing code (core NATS `.qr`). */
  publish: (payload: PairingPayload) => void;
  /** The phase moves to QRRequired (`qr`) or Pairing (`pairing-code`). */
  entered: (event: 'qr' | 'pairing-code') => void;
  /** Too many QR codes: close this socket and wait for a `pair` command. */
  qrLimitReached: () => void;
  /** Whether `socket` is still the supervisor's current one (a code may arrive late). */
  isCurrent: (socket: SessionSocket) => boolean;
  logger: Logger;
}

/** What a `pair` command asks of the supervisor once it was accepted. */
export type PairingStart = 'open-socket' | 'code-requested' | 'nothing';

export class Pairing {
  private readonly deps: PairingDeps;
  private mode: 'qr' | 'code';
  private phoneNumber: string | undefined;
  private qrShown = 0;
  private codeRequested = false;

  constructor(deps: PairingDeps) {
    this.deps = deps;
    this.mode = deps.options.pairing;
    this.phoneNumber = deps.options.phoneNumber;
  }

  /** A new socket is opening: its QR budget and code request start over. */
  socketOpening(): void {
    this.qrShown = 0;
    this.codeRequested = false;
  }

  /**
   * A `pair` command. Allowed when the channel is not linked: from QRRequired (switching to a
   * code), or when stopped after QR expiry or a logout. `socket` is the open one, if any.
   */
  request(
    mode: 'qr' | 'code',
    phoneNumber: string | undefined,
    socket: { current: SessionSocket; waitingForScan: boolean } | undefined,
  ): PairingStart {
    if (this.deps.isRegistered())
      throw new PairingRefusedError('AlreadyLinked', 'the channel is already linked to an account');
    if (mode === 'code' && !phoneNumber)
      throw new PairingRefusedError('PhoneNumberMissing', 'pairing by code needs a phone number');
    this.mode = mode;
    this.phoneNumber = phoneNumber ?? this.phoneNumber;
    this.codeRequested = false;
    if (!socket) return 'open-socket';
    if (mode === 'code' && socket.waitingForScan) {
      this.requestCode(socket.current);
      return 'code-requested';
    }
    return 'nothing';
  }

  /** Baileys produced a QR code for `socket`. */
  qr(socket: SessionSocket, qr: string): void {
    if (this.mode === 'code' && this.phoneNumber) {
      if (!this.codeRequested) this.requestCode(socket);
      return;
    }
    this.qrShown += 1;
    const max = this.deps.options.maxQrCodes;
    if (this.qrShown > max) {
      this.deps.logger.info({ shown: max }, 'QR limit reached; waiting for a pair command');
      this.deps.qrLimitReached();
      return;
    }
    this.deps.entered('qr');
    this.deps.publish({ type: 'qr', qr, attempt: this.qrShown, maxAttempts: max });
  }

  private requestCode(socket: SessionSocket): void {
    const phoneNumber = this.phoneNumber!;
    this.codeRequested = true;
    socket.requestPairingCode(phoneNumber).then(
      (code) => {
        if (!this.deps.isCurrent(socket)) return;
        this.deps.entered('pairing-code');
        this.deps.publish({ type: 'code', code, phoneNumber });
      },
      (err: unknown) => this.deps.logger.warn({ err }, 'pairing code request failed'),
    );
  }
}
