/**
 * The session's phase and the counters its status carries (reconnects, degraded, when it last
 * connected). Every session event goes through the phase table (phase-machine.ts); a change, or
 * any open (the account and lastConnectedAt come with it), is published through the status port.
 */
import type { Logger } from 'pino';
import {
  INITIAL_PHASE,
  transition,
  type Phase,
  type PhaseState,
  type SessionEvent,
} from './phase-machine.ts';
import type { StatusPort } from './ports.ts';

export class SessionStatus {
  private readonly port: StatusPort;
  private readonly logger: Logger;
  private state: PhaseState = INITIAL_PHASE;
  private reconnects = 0;
  private isDegraded = false;
  private lastConnectedAt: string | undefined;
  /** The message of the next status published (why the lease was lost), then cleared. */
  private nextMessage: string | undefined;

  constructor(port: StatusPort, logger: Logger) {
    this.port = port;
    this.logger = logger;
  }

  get phase(): Phase {
    return this.state.phase;
  }

  get reason(): string | undefined {
    return this.state.reason;
  }

  get degraded(): boolean {
    return this.isDegraded;
  }

  /** The socket logged in: the loop is healthy again. */
  opened(now: number, account: string | undefined): void {
    this.isDegraded = false;
    this.lastConnectedAt = new Date(now).toISOString();
    this.apply({ type: 'open' }, account);
  }

  /** The socket closed and another one will follow. */
  retrying(phase: 'Disconnected' | 'Error', reason: string, degraded: boolean): void {
    this.reconnects += 1;
    this.isDegraded = degraded;
    this.apply({ type: 'closed', phase, reason });
  }

  /** The next status published carries this message (a reason alone would not say why). */
  explainNext(message: string | undefined): void {
    this.nextMessage = message;
  }

  apply(event: SessionEvent, account?: string): void {
    const next = transition(this.state, event);
    if (next.ignored) {
      this.logger.debug({ from: this.state.phase, event: event.type }, 'ignored session event');
      return;
    }
    this.state = next.next;
    if (!next.changed && event.type !== 'open') return;
    const message = this.nextMessage;
    this.nextMessage = undefined;
    this.port.publish({
      phase: next.next.phase,
      reason: next.next.reason,
      message,
      account,
      reconnects: this.reconnects,
      degraded: this.isDegraded,
      lastConnectedAt: this.lastConnectedAt,
    });
  }
}
