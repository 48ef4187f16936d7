/**
 * What happens after a socket closed. The decision itself is the pure policy's
 * (reconnect-policy.ts) over the close cause and the recent history kept here; this module
 * carries it out:
 *
 * - `reconnect`: publish Disconnected, make the creds durable first when the policy says so
 *   (after 515 the new socket must log in with the creds pairing just produced), then reconnect;
 * - `verify-lease-then-reconnect` (440): wait, ask the lease's source of truth, reconnect only if
 *   this worker still holds it, otherwise exit — never fight another holder; ask again while the
 *   store does not answer (an outage is no verdict);
 * - `wait-then-reconnect`: poll the dependency (S3, JetStream) and reconnect once it is back;
 * - `stop`: publish the phase, quarantine or erase the state when the policy says so, exit if
 *   asked to.
 */
import type { Logger } from 'pino';
import type { AuthStatePort, Clock, LeasePort } from './ports.ts';
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
  type ReconnectParams,
} from './reconnect-policy.ts';

export interface CloseDecisionOptions {
  reconnect: ReconnectParams;
  windows: HistoryWindows;
}

/** Why and how the worker process should end. */
export interface Finished {
  reason: string;
  exitCode: number;
}

export interface CloseDecisionDeps {
  options: CloseDecisionOptions;
  auth: Pick<AuthStatePort, 'flush' | 'quarantine' | 'erase'>;
  lease: LeasePort;
  /** Whether whatever a `wait-then-reconnect` waits for is back. */
  dependencyReady: (reason: string) => Promise<boolean>;
  /**
   * The session closed into `phase`. `retry` is set when another socket will follow (the
   * reconnect counter goes up and `degraded` is the loop's new state).
   */
  closed: (phase: 'Disconnected' | 'Error', reason: string, retry?: { degraded: boolean }) => void;
  reconnect: () => void;
  exit: (finished: Finished) => void;
  /** Shutting down or finished: nothing more is scheduled. */
  stopping: () => boolean;
  clock: Clock;
  random: () => number;
  logger: Logger;
}

const LEASE_LOST: Finished = { reason: REASONS.leaseLost, exitCode: 3 };

export class CloseDecisions {
  private readonly deps: CloseDecisionDeps;
  private history: HistoryLog = EMPTY_HISTORY;
  /** The one pending step (a reconnect, a lease check, a dependency poll), if any. */
  private timer: unknown;

  constructor(deps: CloseDecisionDeps) {
    this.deps = deps;
  }

  /** A socket logged in (a long enough open resets the failure count). */
  opened(now: number): void {
    this.history = recordOpen(this.history, now);
  }

  /** The policy's answer to this close, given what closed before it. */
  decide(cause: CloseCause, now: number): Decision {
    const { log, history } = recordClose(this.history, cause, now, this.deps.options.windows);
    this.history = log;
    return decideAfterClose(cause, history, this.deps.options.reconnect, this.deps.random);
  }

  /** Drops the pending step (a `pair` command reconnects now; shutdown reconnects never). */
  cancelPending(): void {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  async carryOut(decision: Decision): Promise<void> {
    const deps = this.deps;
    const later = (ms: number, fn: () => void) => this.later(ms, fn);
    if (decision.kind !== 'stop' && deps.stopping()) return;
    switch (decision.kind) {
      case 'reconnect':
        deps.closed('Disconnected', decision.reason, { degraded: decision.degraded });
        if (decision.flushCredsFirst) {
          try {
            await deps.auth.flush();
          } catch (err) {
            deps.logger.error({ err }, 'creds not durable; waiting for the store before reconnecting');
            return this.carryOut({
              kind: 'wait-then-reconnect',
              reason: REASONS.storeUnavailable,
              delayMs: deps.options.reconnect.storeFailureDelayMs,
              degraded: true,
            });
          }
        }
        later(decision.delayMs, deps.reconnect);
        return;
      case 'verify-lease-then-reconnect':
        if (decision.alert)
          deps.logger.error('connection replaced again: another client is using these credentials');
        deps.closed('Disconnected', decision.reason, { degraded: decision.degraded });
        later(decision.delayMs, () => void this.reconnectIfLeaseHeld());
        return;
      case 'wait-then-reconnect': {
        deps.closed('Disconnected', decision.reason, { degraded: true });
        const poll = () =>
          void deps.dependencyReady(decision.reason).then(
            (ready) => (ready ? deps.reconnect() : later(decision.delayMs, poll)),
            () => later(decision.delayMs, poll),
          );
        later(decision.delayMs, poll);
        return;
      }
      case 'stop':
        deps.closed(decision.phase, decision.reason);
        if (decision.state !== 'keep') await this.setStateAside(decision.state, decision.reason);
        if (decision.exit)
          deps.exit({ reason: decision.reason, exitCode: decision.reason === REASONS.shutdown ? 0 : 3 });
        return;
    }
  }

  private later(ms: number, fn: () => void): void {
    this.cancelPending();
    if (this.deps.stopping()) return;
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      fn();
    }, ms);
  }

  private async reconnectIfLeaseHeld(): Promise<void> {
    let held: boolean;
    try {
      held = await this.deps.lease.stillHeld();
    } catch (err) {
      // S3 did not answer: no verdict on the lease, so neither reconnect nor exit. Ask again;
      // if the lease cannot be renewed meanwhile, its loss ends this session instead.
      this.deps.logger.warn({ err }, 'lease check failed after 440; checking again');
      this.later(this.deps.options.reconnect.dependencyRecheckMs, () => void this.reconnectIfLeaseHeld());
      return;
    }
    if (held) this.deps.reconnect();
    else this.deps.exit(LEASE_LOST);
  }

  private async setStateAside(action: 'quarantine' | 'erase', reason: string): Promise<void> {
    try {
      if (action === 'quarantine') await this.deps.auth.quarantine(reason);
      else await this.deps.auth.erase(reason);
    } catch (err) {
      this.deps.logger.error({ err, action }, 'could not set the auth state aside');
    }
  }
}
