/**
 * Runs exactly one Baileys socket at a time for the channel and decides what happens when it
 * closes. The decisions come from the pure policy (reconnect-policy.ts) and phase table
 * (phase-machine.ts); this class only does the I/O around them:
 *
 * - a new socket is created only after the previous one reported `connection: 'close'`
 *   (Baileys' end() has then removed its WebSocket listeners and destroyed its emitter), and
 *   every listener the worker put on the old socket is taken off again;
 * - shutdown and recycling use `end()`, never `logout()` (which would unlink the device);
 * - QR codes are bounded; after the limit the socket is closed and the channel waits for a
 *   `pair` command;
 * - a connected session that goes deaf (deaf-detector.ts) is recycled.
 */
import type { Logger } from 'pino';
import { DeafDetector, type DeafReason } from './deaf-detector.ts';
import type { InboundGate } from './inbound-gate.ts';
import {
  NotConnectedError,
  PairingRefusedError,
  type KeepSentMessage,
  type OutgoingContent,
  type SentMessage,
  type SessionPort,
} from './session-port.ts';
import {
  INITIAL_PHASE,
  transition,
  type Phase,
  type PhaseState,
  type SessionEvent,
} from './phase-machine.ts';
import type {
  AuthStatePort,
  Clock,
  ConnectionUpdate,
  LeasePort,
  PairingPayload,
  SessionSocket,
  StatusReport,
} from './ports.ts';
import {
  EMPTY_HISTORY,
  REASONS,
  decideAfterClose,
  recordClose,
  recordOpen,
  type CloseCause,
  type Decision,
  type HistoryLog,
  type HistoryWindows,
  type LocalCause,
  type ReconnectParams,
} from './reconnect-policy.ts';

export interface SupervisorOptions {
  reconnect: ReconnectParams;
  windows: HistoryWindows;
  maxQrCodes: number;
  pairing: 'qr' | 'code';
  phoneNumber: string | undefined;
  deaf: { silentAfterMs: number; sendAckTimeoutMs: number; maxSelfCheckFailures: number };
  selfCheckIntervalMs: number;
  selfCheckTimeoutMs: number;
}

/** Hooks the rest of the worker (events, metrics) uses to follow the session. */
export interface SupervisorHooks {
  status(report: StatusReport): void;
  pairing(payload: PairingPayload): void;
  /** A socket was created: attach event listeners; return a function that detaches them. */
  attach(socket: SessionSocket): () => void;
  /** Whether whatever a `wait-then-reconnect` waits for is back. */
  dependencyReady(reason: string): Promise<boolean>;
  closed?(decision: Decision, cause: CloseCause): void;
  recycled?(reason: DeafReason): void;
}

export interface SupervisorDeps {
  options: SupervisorOptions;
  createSocket: (gate: InboundGate) => SessionSocket;
  gate: InboundGate;
  auth: AuthStatePort;
  lease: LeasePort;
  hooks: SupervisorHooks;
  clock: Clock;
  random: () => number;
  logger: Logger;
  /** Keeps what was sent for Baileys' retry requests (getMessage). */
  keepSent?: KeepSentMessage | undefined;
}

export interface Finished {
  reason: string;
  exitCode: number;
}

export class Supervisor implements SessionPort {
  readonly #d: SupervisorDeps;
  #phase: PhaseState = INITIAL_PHASE;
  #socket: SessionSocket | undefined;
  #detach: (() => void)[] = [];
  #pendingLocal: LocalCause | undefined;
  #history: HistoryLog = EMPTY_HISTORY;
  #reconnects = 0;
  #degraded = false;
  #lastConnectedAt: string | undefined;
  #timer: unknown;
  #deafTimer: unknown;
  #deaf: DeafDetector | undefined;
  #qrShown = 0;
  #pairingMode: 'qr' | 'code';
  #pairingPhone: string | undefined;
  #codeRequested = false;
  #stopping = false;
  #finished = false;
  #closeWaiters: (() => void)[] = [];
  #finish!: (f: Finished) => void;
  /** Resolves when the worker should exit (shutdown, lease lost). */
  readonly finished: Promise<Finished>;

  constructor(deps: SupervisorDeps) {
    this.#d = deps;
    this.#pairingMode = deps.options.pairing;
    this.#pairingPhone = deps.options.phoneNumber;
    this.finished = new Promise((resolve) => (this.#finish = resolve));
  }

  get phase(): Phase {
    return this.#phase.phase;
  }

  get reason(): string | undefined {
    return this.#phase.reason;
  }

  get degraded(): boolean {
    return this.#degraded;
  }

  get reconnects(): number {
    return this.#reconnects;
  }

  /** Whether a socket exists (open or still opening). At most one, always. */
  get hasSocket(): boolean {
    return this.#socket !== undefined;
  }

  /** Publishes Pending: the worker is taking the lease and loading the auth state. */
  announce(): void {
    this.#apply({ type: 'start' });
  }

  /** Opens the first socket (after the lease is held and the state is loaded). */
  start(): void {
    this.#connect();
  }

  async send(jid: string, content: OutgoingContent): Promise<SentMessage> {
    const socket = this.#connectedSocket();
    // linkPreview: null — never fetch URLs found in a patient message (egress, privacy).
    const sent = await socket.sendMessage(jid, { text: content.text, linkPreview: null });
    const id = sent?.key.id ?? '';
    if (id && sent?.message) {
      await this.#d
        .keepSent?.(id, sent.message)
        .catch((err: unknown) => this.#d.logger.warn({ err }, 'could not keep the sent message for retries'));
    }
    this.#deaf?.messageSent(id, this.#d.clock.now());
    return { id, timestamp: Number(sent?.messageTimestamp ?? 0) };
  }

  /** The socket, only while the session is Connected. */
  #connectedSocket(): SessionSocket {
    if (!this.#socket || this.#phase.phase !== 'Connected') throw new NotConnectedError(this.#phase.phase);
    return this.#socket;
  }

  /** For the deaf detector: any frame from the server. */
  frameReceived(): void {
    this.#deaf?.frameReceived(this.#d.clock.now());
  }

  messageAcked(id: string): void {
    this.#deaf?.messageAcked(id);
  }

  /** A key commit or creds save failed for good: restart from durable state. */
  storeFailed(err: unknown): void {
    if (!this.#socket) return;
    this.#d.logger.error(
      { err },
      'auth state write failed; closing the socket to restart from durable state',
    );
    this.#end('store-failure');
  }

  /** JetStream cannot take events: stop acknowledging anything to WhatsApp. */
  sinkUnavailable(): void {
    if (!this.#socket) return;
    this.#d.logger.warn('event sink unavailable; closing the socket so nothing more is acknowledged');
    this.#end('sink-unavailable');
  }

  /** The lease is gone (renewal failed or another holder): close at once, never fight. */
  leaseLost(): void {
    this.#d.logger.error('lease lost; closing the socket');
    if (this.#socket) this.#end('lease-lost');
    else this.#done({ reason: REASONS.leaseLost, exitCode: 3 });
  }

  /**
   * Starts pairing (a `pair` command). Allowed when the channel is not linked: from QRRequired
   * (switching to a code), or when stopped after QR expiry or a logout.
   */
  async pair(mode: 'qr' | 'code', phoneNumber: string | undefined): Promise<void> {
    if (this.#d.auth.isRegistered())
      throw new PairingRefusedError('AlreadyLinked', 'the channel is already linked to an account');
    if (mode === 'code' && !phoneNumber)
      throw new PairingRefusedError('PhoneNumberMissing', 'pairing by code needs a phone number');
    this.#pairingMode = mode;
    this.#pairingPhone = phoneNumber ?? this.#pairingPhone;
    this.#codeRequested = false;
    if (this.#socket) {
      if (mode === 'code' && this.#phase.phase === 'QRRequired') this.#requestCode(this.#socket);
      return;
    }
    this.#clearTimer();
    this.#connect();
  }

  /** Unlinks the device (a `logout` command). The state is erased afterwards. */
  async logout(): Promise<void> {
    const socket = this.#connectedSocket();
    this.#pendingLocal = 'logout';
    const closed = this.#waitClosed();
    await socket.logout('logout requested by command');
    await closed;
  }

  /** SIGTERM: close the socket without logging out, let the creds save finish. */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    this.#clearTimer();
    if (this.#socket) {
      const closed = this.#waitClosed();
      this.#end('shutdown');
      await closed;
    }
    try {
      await this.#d.auth.flush();
    } catch (err) {
      this.#d.logger.error({ err }, 'creds could not be flushed during shutdown');
    }
    this.#done({ reason: REASONS.shutdown, exitCode: 0 });
  }

  #connect(): void {
    if (this.#stopping || this.#finished) return;
    if (this.#socket) throw new Error('refusing to open a second socket while one is still open');
    this.#apply({ type: 'connecting' });
    this.#qrShown = 0;
    this.#codeRequested = false;
    const socket = this.#d.createSocket(this.#d.gate);
    this.#socket = socket;
    // Baileys emits the first connection.update on the next tick: attaching now misses nothing.
    const onUpdate = (update: ConnectionUpdate) => this.#onUpdate(socket, update);
    const onFrame = () => this.frameReceived();
    socket.ev.on('connection.update', onUpdate);
    socket.ws.on('frame', onFrame);
    const detachHooks = this.#d.hooks.attach(socket);
    this.#detach = [
      () => socket.ev.off('connection.update', onUpdate),
      () => socket.ws.off('frame', onFrame),
      detachHooks,
    ];
  }

  #onUpdate(socket: SessionSocket, update: ConnectionUpdate): void {
    if (socket !== this.#socket) return; // a late event of an old socket
    if (update.qr) this.#onQr(socket, update.qr);
    if (update.connection === 'open') this.#onOpen(socket);
    if (update.connection === 'close') {
      const error = update.lastDisconnect?.error as
        (Error & { output?: { statusCode?: number } }) | undefined;
      this.#onClose({ statusCode: error?.output?.statusCode, message: error?.message, local: undefined });
    }
  }

  #onQr(socket: SessionSocket, qr: string): void {
    if (this.#pairingMode === 'code' && this.#pairingPhone) {
      // Baileys wants the pairing code requested once the server offered pairing (first QR).
      if (!this.#codeRequested) this.#requestCode(socket);
      return;
    }
    this.#qrShown += 1;
    if (this.#qrShown > this.#d.options.maxQrCodes) {
      this.#d.logger.info(
        { shown: this.#d.options.maxQrCodes },
        'QR limit reached; waiting for a pair command',
      );
      this.#end('qr-limit');
      return;
    }
    this.#apply({ type: 'qr' });
    this.#d.hooks.pairing({
      type: 'qr',
      qr,
      attempt: this.#qrShown,
      maxAttempts: this.#d.options.maxQrCodes,
    });
  }

  #requestCode(socket: SessionSocket): void {
    const phone = this.#pairingPhone!;
    this.#codeRequested = true;
    socket.requestPairingCode(phone).then(
      (code) => {
        if (socket !== this.#socket) return;
        this.#apply({ type: 'pairing-code' });
        this.#d.hooks.pairing({ type: 'code', code, phoneNumber: phone });
      },
      (err: unknown) => this.#d.logger.warn({ err }, 'pairing code request failed'),
    );
  }

  #onOpen(socket: SessionSocket): void {
    const now = this.#d.clock.now();
    this.#history = recordOpen(this.#history, now);
    this.#degraded = false;
    this.#lastConnectedAt = new Date(now).toISOString();
    this.#deaf = new DeafDetector(this.#d.options.deaf, now);
    this.#apply({ type: 'open' }, socket.user?.id);
    this.#scheduleSelfCheck(socket);
  }

  #scheduleSelfCheck(socket: SessionSocket): void {
    this.#deafTimer = this.#d.clock.setTimeout(() => {
      if (socket !== this.#socket || !this.#deaf) return;
      void this.#selfCheck(socket).then(() => {
        if (socket !== this.#socket || !this.#deaf) return;
        const deaf = this.#deaf.check(this.#d.clock.now());
        if (deaf) {
          this.#d.logger.warn({ deaf }, 'session is deaf; recycling the socket');
          this.#d.hooks.recycled?.(deaf);
          this.#end('recycle');
          return;
        }
        this.#scheduleSelfCheck(socket);
      });
    }, this.#d.options.selfCheckIntervalMs);
  }

  /** An application-level round trip (the same ping Baileys' keep-alive uses). */
  async #selfCheck(socket: SessionSocket): Promise<void> {
    try {
      await socket.query(
        {
          tag: 'iq',
          attrs: { to: 's.whatsapp.net', type: 'get', xmlns: 'w:p' },
          content: [{ tag: 'ping', attrs: {} }],
        },
        this.#d.options.selfCheckTimeoutMs,
      );
      this.#deaf?.selfCheck(true);
    } catch (err) {
      this.#d.logger.warn({ err }, 'self-check failed');
      this.#deaf?.selfCheck(false);
    }
  }

  #end(cause: LocalCause): void {
    const socket = this.#socket;
    if (!socket) return;
    this.#pendingLocal ??= cause;
    // Messages waiting for JetStream give up now so their transactions roll back unacknowledged.
    this.#d.gate.abortWaiting(new Error(`socket closing: ${cause}`));
    void Promise.resolve(socket.end(new Error(`closed by the worker: ${cause}`))).catch((err: unknown) =>
      this.#d.logger.warn({ err }, 'error while ending the socket'),
    );
  }

  #onClose(reported: CloseCause): void {
    for (const detach of this.#detach.splice(0)) detach();
    this.#socket = undefined;
    this.#deaf = undefined;
    this.#d.clock.clearTimeout(this.#deafTimer);
    this.#d.gate.abortWaiting(new Error('socket closed'));
    const cause: CloseCause = { ...reported, local: this.#pendingLocal };
    this.#pendingLocal = undefined;
    const now = this.#d.clock.now();
    const { log, history } = recordClose(this.#history, cause, now, this.#d.options.windows);
    this.#history = log;
    const decision = decideAfterClose(cause, history, this.#d.options.reconnect, this.#d.random);
    this.#d.logger.info(
      { statusCode: cause.statusCode, local: cause.local, decision },
      `socket closed: ${decision.reason} → ${decision.kind}`,
    );
    this.#d.hooks.closed?.(decision, cause);
    for (const wake of this.#closeWaiters.splice(0)) wake();
    void this.#applyDecision(decision);
  }

  async #applyDecision(d: Decision): Promise<void> {
    if (d.kind !== 'stop' && this.#stopping) return;
    switch (d.kind) {
      case 'reconnect':
        this.#reconnects += 1;
        this.#degraded = d.degraded;
        this.#apply({ type: 'closed', phase: 'Disconnected', reason: d.reason });
        if (d.flushCredsFirst) {
          try {
            await this.#d.auth.flush();
          } catch (err) {
            this.#d.logger.error({ err }, 'creds not durable; waiting for the store before reconnecting');
            return this.#applyDecision({
              kind: 'wait-then-reconnect',
              reason: REASONS.storeUnavailable,
              delayMs: this.#d.options.reconnect.storeFailureDelayMs,
              degraded: true,
            });
          }
        }
        this.#later(d.delayMs, () => this.#connect());
        return;
      case 'verify-lease-then-reconnect':
        this.#reconnects += 1;
        this.#degraded = d.degraded;
        if (d.alert)
          this.#d.logger.error('connection replaced again: another client is using these credentials');
        this.#apply({ type: 'closed', phase: 'Disconnected', reason: d.reason });
        this.#later(d.delayMs, () => {
          void this.#d.lease.stillHeld().then(
            (held) => (held ? this.#connect() : this.#done({ reason: REASONS.leaseLost, exitCode: 3 })),
            (err: unknown) => {
              this.#d.logger.error({ err }, 'lease check failed after 440; not reconnecting');
              this.#done({ reason: REASONS.leaseLost, exitCode: 3 });
            },
          );
        });
        return;
      case 'wait-then-reconnect': {
        this.#reconnects += 1;
        this.#degraded = true;
        this.#apply({ type: 'closed', phase: 'Disconnected', reason: d.reason });
        const poll = () =>
          void this.#d.hooks.dependencyReady(d.reason).then(
            (ready) => (ready ? this.#connect() : this.#later(d.delayMs, poll)),
            () => this.#later(d.delayMs, poll),
          );
        this.#later(d.delayMs, poll);
        return;
      }
      case 'stop':
        this.#apply({ type: 'closed', phase: d.phase, reason: d.reason });
        if (d.state !== 'keep') {
          try {
            if (d.state === 'quarantine') await this.#d.auth.quarantine(d.reason);
            else await this.#d.auth.erase(d.reason);
          } catch (err) {
            this.#d.logger.error({ err, action: d.state }, 'could not set the auth state aside');
          }
        }
        if (d.exit) this.#done({ reason: d.reason, exitCode: d.reason === REASONS.shutdown ? 0 : 3 });
        return;
    }
  }

  #later(ms: number, fn: () => void): void {
    this.#clearTimer();
    if (this.#stopping || this.#finished) return;
    this.#timer = this.#d.clock.setTimeout(() => {
      this.#timer = undefined;
      fn();
    }, ms);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #waitClosed(): Promise<void> {
    if (!this.#socket) return Promise.resolve();
    return new Promise((resolve) => this.#closeWaiters.push(resolve));
  }

  #apply(event: SessionEvent, account?: string): void {
    const t = transition(this.#phase, event);
    if (t.ignored) {
      this.#d.logger.debug({ from: this.#phase.phase, event: event.type }, 'ignored session event');
      return;
    }
    this.#phase = t.next;
    if (t.changed || event.type === 'open' || event.type === 'start') {
      this.#d.hooks.status({
        phase: t.next.phase,
        reason: t.next.reason,
        message: undefined,
        account: account ?? this.#socket?.user?.id,
        reconnects: this.#reconnects,
        degraded: this.#degraded,
        lastConnectedAt: this.#lastConnectedAt,
      });
    }
  }

  /** Reports an unrecoverable problem outside the socket (e.g. state unreadable at start). */
  fatal(reason: string): void {
    this.#apply({ type: 'fatal', reason });
  }

  #done(f: Finished): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#clearTimer();
    this.#finish(f);
  }
}
