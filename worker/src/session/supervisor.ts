/**
 * Runs exactly one Baileys socket at a time for the channel and is the session port
 * (session-port.ts) the rest of the worker talks to. It owns the socket and its lifecycle;
 * the other concerns live in modules of their own that it drives:
 *
 * - pairing.ts — QR codes (bounded) and pairing codes;
 * - liveness.ts — the self-check and deaf detection of a connected socket;
 * - close-decisions.ts — the reconnect policy's decision after a close, carried out (and the one
 *   pending reconnect timer);
 * - session-status.ts — the phase (through phase-machine.ts) and the counters the status carries;
 * - pending-sends.ts — sent messages the server has not acked, resent on the next connection.
 *
 * Invariants kept here:
 * - a new socket is created only after the previous one reported `connection: 'close'`
 *   (Baileys' end() has then removed its WebSocket listeners and destroyed its emitter), and
 *   every listener the worker put on the old socket is taken off again;
 * - shutdown and recycling use `end()`, never `logout()` (which would unlink the device);
 * - the socket never leaves this class: commands go through `send`, `pair` and `logout`.
 */
import type { WAMessage } from '@whiskeysockets/baileys';
import type { Logger } from 'pino';
import { CloseDecisions, type CloseDecisionOptions, type Finished } from './close-decisions.ts';
import type { DeafReason } from './deaf-detector.ts';
import type { InboundGate } from './inbound-gate.ts';
import { LivenessMonitor, type LivenessOptions } from './liveness.ts';
import { Pairing, type PairingOptions } from './pairing.ts';
import { PendingSends } from './pending-sends.ts';
import type { Phase } from './phase-machine.ts';
import type {
  AuthStatePort,
  Clock,
  ConnectionUpdate,
  LeasePort,
  PairingPayload,
  SessionSocket,
  StatusPort,
} from './ports.ts';
import { REASONS, type CloseCause, type Decision, type LocalCause } from './reconnect-policy.ts';
import { SessionStatus } from './session-status.ts';
import { baileysContent } from './outgoing-content.ts';
import { groupInfoOf, isNotFound, numberCheckQuery, numberChecks } from './session-queries.ts';
import {
  GroupNotFoundError,
  NotConnectedError,
  type GroupInfo,
  type KeepSentMessage,
  type NumberCheck,
  type OutgoingContent,
  type PresenceState,
  type SendOptions,
  type SentMessage,
  type SessionPort,
} from './session-port.ts';

export type { Finished };

export interface SupervisorOptions extends CloseDecisionOptions, PairingOptions, LivenessOptions {}

/** Hooks the rest of the worker (events, metrics) uses to follow the session. */
export interface SupervisorHooks {
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
  /** Where phase changes are published (the worker's one status producer). */
  status: StatusPort;
  hooks: SupervisorHooks;
  clock: Clock;
  random: () => number;
  logger: Logger;
  /** Keeps what was sent for Baileys' retry requests (getMessage). */
  keepSent?: KeepSentMessage | undefined;
}

export class Supervisor implements SessionPort {
  private readonly deps: SupervisorDeps;
  private readonly pairing: Pairing;
  private readonly closeDecisions: CloseDecisions;
  private readonly status: SessionStatus;
  private readonly pendingSends: PendingSends;
  private socket: SessionSocket | undefined;
  private liveness: LivenessMonitor | undefined;
  private detach: (() => void)[] = [];
  private pendingLocal: LocalCause | undefined;
  private stopping = false;
  private isFinished = false;
  private closeWaiters: (() => void)[] = [];
  private leaseWasLost = false;
  private finish!: (finished: Finished) => void;
  /** Resolves when the worker should exit (shutdown, lease lost). */
  readonly finished: Promise<Finished>;

  constructor(deps: SupervisorDeps) {
    this.deps = deps;
    this.finished = new Promise((resolve) => (this.finish = resolve));
    this.status = new SessionStatus(deps.status, deps.logger);
    this.pendingSends = new PendingSends(deps.logger);
    this.pairing = new Pairing({
      options: deps.options,
      isRegistered: () => deps.auth.isRegistered(),
      publish: (payload) => deps.hooks.pairing(payload),
      entered: (event) => this.status.apply({ type: event }, this.socket?.user?.id),
      qrLimitReached: () => this.end('qr-limit'),
      isCurrent: (socket) => socket === this.socket,
      logger: deps.logger,
    });
    this.closeDecisions = new CloseDecisions({
      options: deps.options,
      auth: deps.auth,
      lease: deps.lease,
      dependencyReady: (reason) => deps.hooks.dependencyReady(reason),
      closed: (phase, reason, retry) => {
        if (retry) this.status.retrying(phase, reason, retry.degraded);
        else this.status.apply({ type: 'closed', phase, reason });
      },
      reconnect: () => this.connect(),
      exit: (finished) => this.done(finished),
      stopping: () => this.stopping || this.isFinished,
      clock: deps.clock,
      random: deps.random,
      logger: deps.logger,
    });
  }

  get phase(): Phase {
    return this.status.phase;
  }

  get reason(): string | undefined {
    return this.status.reason;
  }

  get degraded(): boolean {
    return this.status.degraded;
  }

  /** Whether a socket exists (open or still opening). At most one, always. */
  get hasSocket(): boolean {
    return this.socket !== undefined;
  }

  /** Opens the first socket (after the lease is held and the state is loaded). */
  start(): void {
    this.connect();
  }

  async send(jid: string, content: OutgoingContent, options: SendOptions = {}): Promise<SentMessage> {
    const socket = this.connectedSocket();
    const sent = await socket.sendMessage(
      jid,
      baileysContent(jid, content, socket.user?.id),
      options.messageId ? { messageId: options.messageId } : {},
    );
    const id = sent?.key.id ?? '';
    // Written to the socket, not yet heard by the server: resent after a reconnect until acked.
    if (id && sent?.message) this.pendingSends.sent(id, jid, sent.message, socket.user?.id);
    if (id && sent?.message) {
      await this.deps
        .keepSent?.(id, sent.message)
        .catch((err: unknown) =>
          this.deps.logger.warn({ err }, 'could not keep the sent message for retries'),
        );
    }
    if (socket === this.socket) this.liveness?.messageSent(id);
    return { id, timestamp: Number(sent?.messageTimestamp ?? 0) };
  }

  async markRead(jid: string, messages: { id: string; participant?: string | undefined }[]): Promise<void> {
    const socket = this.connectedSocket();
    await socket.readMessages(
      messages.map((m) => ({
        remoteJid: jid,
        id: m.id,
        fromMe: false,
        ...(m.participant ? { participant: m.participant } : {}),
      })),
    );
  }

  async setPresence(state: PresenceState, jid: string | undefined): Promise<void> {
    const socket = this.connectedSocket();
    // Baileys drops available/unavailable silently when it does not know the account's name.
    if ((state === 'available' || state === 'unavailable') && !socket.user?.name)
      throw new Error(
        'WhatsApp has not given this device the account name yet, which available/unavailable need',
      );
    await socket.sendPresenceUpdate(state, jid);
  }

  async checkNumbers(numbers: string[]): Promise<NumberCheck[]> {
    const answer = await this.connectedSocket().executeUSyncQuery(numberCheckQuery(numbers));
    return numberChecks(numbers, answer?.list ?? []);
  }

  async groupInfo(jid: string): Promise<GroupInfo> {
    const socket = this.connectedSocket();
    try {
      return groupInfoOf(await socket.groupMetadata(jid));
    } catch (err) {
      if (isNotFound(err)) throw new GroupNotFoundError(jid);
      throw err;
    }
  }

  async reuploadMedia(message: WAMessage): Promise<WAMessage> {
    return this.connectedSocket().updateMediaMessage(message);
  }

  async pair(mode: 'qr' | 'code', phoneNumber: string | undefined): Promise<void> {
    const socket = this.socket
      ? { current: this.socket, waitingForScan: this.status.phase === 'QRRequired' }
      : undefined;
    if (this.pairing.request(mode, phoneNumber, socket) !== 'open-socket') return;
    this.closeDecisions.cancelPending();
    this.connect();
  }

  /** Unlinks the device (a `logout` command). The state is erased afterwards. */
  async logout(): Promise<void> {
    const socket = this.connectedSocket();
    this.pendingLocal = 'logout';
    this.pendingSends.clear();
    const closed = this.waitClosed();
    await socket.logout('logout requested by command');
    await closed;
  }

  /** The server acknowledged a message we sent (session-events.ts). */
  messageAcked(id: string): void {
    this.pendingSends.acked(id);
    this.liveness?.messageAcked(id);
  }

  /**
   * A key commit or creds save failed for good. A fencing refusal means another worker owns the
   * channel (lease lost); anything else restarts the socket from durable state.
   */
  storeFailed(err: unknown): void {
    if (this.deps.auth.isFencingError(err)) return this.leaseLost();
    if (!this.socket) return;
    this.deps.logger.error(
      { err },
      'auth state write failed; closing the socket to restart from durable state',
    );
    this.end('store-failure');
  }

  /** JetStream cannot take events: stop acknowledging anything to WhatsApp. */
  sinkUnavailable(): void {
    if (!this.socket) return;
    this.deps.logger.warn('event sink unavailable; closing the socket so nothing more is acknowledged');
    this.end('sink-unavailable');
  }

  /**
   * The lease is gone (renewal failed or another holder): close at once, never fight. The
   * LeaseLost status carries `why` — also when no socket was open (waiting for the store).
   */
  leaseLost(why?: string): void {
    if (this.leaseWasLost) return; // a write refused for the same loss reports it again
    this.leaseWasLost = true;
    this.deps.logger.error({ why }, 'lease lost; closing the socket');
    this.status.explainNext(why);
    if (this.socket) return this.end('lease-lost');
    this.status.apply({ type: 'closed', phase: 'Disconnected', reason: REASONS.leaseLost });
    this.done({ reason: REASONS.leaseLost, exitCode: 3 });
  }

  /** SIGTERM: close the socket without logging out, let the creds save finish. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.closeDecisions.cancelPending();
    if (this.socket) {
      const closed = this.waitClosed();
      this.end('shutdown');
      await closed;
    }
    try {
      await this.deps.auth.flush();
    } catch (err) {
      this.deps.logger.error({ err }, 'creds could not be flushed during shutdown');
    }
    this.done({ reason: REASONS.shutdown, exitCode: 0 });
  }

  private connectedSocket(): SessionSocket {
    if (!this.socket || this.status.phase !== 'Connected') throw new NotConnectedError(this.status.phase);
    return this.socket;
  }

  private connect(): void {
    if (this.stopping || this.isFinished) return;
    if (this.socket) throw new Error('refusing to open a second socket while one is still open');
    this.status.apply({ type: 'connecting' });
    this.pairing.socketOpening();
    const socket = this.deps.createSocket(this.deps.gate);
    this.socket = socket;
    // Baileys emits the first connection.update on the next tick: attaching now misses nothing.
    const onUpdate = (update: ConnectionUpdate) => this.onUpdate(socket, update);
    const onFrame = () => this.liveness?.frameReceived();
    socket.ev.on('connection.update', onUpdate);
    socket.ws.on('frame', onFrame);
    const detachHooks = this.deps.hooks.attach(socket);
    this.detach = [
      () => socket.ev.off('connection.update', onUpdate),
      () => socket.ws.off('frame', onFrame),
      detachHooks,
    ];
  }

  private onUpdate(socket: SessionSocket, update: ConnectionUpdate): void {
    if (socket !== this.socket) return; // a late event of an old socket
    if (update.qr) this.pairing.qr(socket, update.qr);
    if (update.connection === 'open') this.onOpen(socket);
    if (update.connection === 'close') {
      const error = update.lastDisconnect?.error as
        (Error & { output?: { statusCode?: number } }) | undefined;
      this.onClose({ statusCode: error?.output?.statusCode, message: error?.message, local: undefined });
    }
  }

  private onOpen(socket: SessionSocket): void {
    const now = this.deps.clock.now();
    this.closeDecisions.opened(now);
    this.liveness?.stop();
    this.liveness = new LivenessMonitor({
      socket,
      options: this.deps.options,
      clock: this.deps.clock,
      logger: this.deps.logger,
      onDeaf: (reason) => {
        if (socket !== this.socket) return;
        this.deps.hooks.recycled?.(reason);
        this.end('recycle');
      },
    });
    this.status.opened(now, socket.user?.id);
    void this.pendingSends.resend(socket, {
      isCurrent: () => socket === this.socket && this.status.phase === 'Connected',
      resent: (id) => this.liveness?.messageSent(id),
    });
  }

  private end(cause: LocalCause): void {
    const socket = this.socket;
    if (!socket) return;
    this.pendingLocal ??= cause;
    // Messages waiting for JetStream give up now so their transactions roll back unacknowledged.
    this.deps.gate.abortWaiting(new Error(`socket closing: ${cause}`));
    void Promise.resolve(socket.end(new Error(`closed by the worker: ${cause}`))).catch((err: unknown) =>
      this.deps.logger.warn({ err }, 'error while ending the socket'),
    );
  }

  private onClose(reported: CloseCause): void {
    for (const detach of this.detach.splice(0)) detach();
    this.socket = undefined;
    this.liveness?.stop();
    this.liveness = undefined;
    this.deps.gate.abortWaiting(new Error('socket closed'));
    const cause: CloseCause = { ...reported, local: this.pendingLocal };
    this.pendingLocal = undefined;
    const decision = this.closeDecisions.decide(cause, this.deps.clock.now());
    this.deps.logger.info(
      { statusCode: cause.statusCode, local: cause.local, decision },
      `socket closed: ${decision.reason} → ${decision.kind}`,
    );
    this.deps.hooks.closed?.(decision, cause);
    for (const wake of this.closeWaiters.splice(0)) wake();
    void this.closeDecisions.carryOut(decision);
  }

  private waitClosed(): Promise<void> {
    if (!this.socket) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  private done(finished: Finished): void {
    if (this.isFinished) return;
    this.isFinished = true;
    this.closeDecisions.cancelPending();
    this.finish(finished);
  }
}
