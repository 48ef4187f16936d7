/**
 * What to do after a Baileys socket closed: a pure table from the close cause (Baileys'
 * DisconnectReason status code, or a cause the supervisor itself recorded before ending the
 * socket) plus the recent history to a decision. No I/O, no clocks, no randomness of its own:
 * the caller passes `random` so every branch is unit-tested exactly.
 *
 * The table is docs/worker.md §"Reconnect policy": 500 is Baileys' catch-all and never touches
 * state; 440 means another client uses our credentials, so we never fight for the connection.
 */
import { LOGGED_OUT_BY_COMMAND } from '../../../contract/resource.ts';

/** Why the worker itself ended the socket (it records this before calling `end`). */
export const LOCAL_CAUSES = [
  'shutdown', // SIGTERM: stop, keep everything
  'recycle', // deaf session or failed self-check: reconnect now
  'store-failure', // a key commit failed for good: reconnect from durable state after a pause
  'sink-unavailable', // NATS cannot take events: stop acknowledging, wait for it
  'qr-limit', // our own bound on QR codes shown
  'lease-lost', // another worker holds the channel
  'logout', // a `logout` command
] as const;
export type LocalCause = (typeof LOCAL_CAUSES)[number];

/** Baileys DisconnectReason codes (Types/index.ts) plus the codes WhatsApp sends in failure nodes. */
export const DisconnectCode = {
  loggedOut: 401,
  paymentRequired: 402,
  forbidden: 403,
  clientOutdated: 405,
  banned: 406,
  timedOut: 408, // also connectionLost
  multideviceMismatch: 411,
  connectionClosed: 428,
  connectionReplaced: 440,
  badSession: 500,
  unavailableService: 503,
  restartRequired: 515,
} as const;

export const QR_REFS_ENDED_MESSAGE = 'QR refs attempts ended';

export interface CloseCause {
  /** `lastDisconnect.error.output.statusCode`, when Baileys gave one. */
  statusCode: number | undefined;
  /** `lastDisconnect.error.message`. */
  message: string | undefined;
  /** Set when the worker ended the socket on purpose. Takes precedence over the status code. */
  local: LocalCause | undefined;
}

/** Machine-readable reasons published on the status subject. */
export const REASONS = {
  restartRequired: 'RestartRequired',
  connectionClosed: 'ConnectionClosed',
  connectionLost: 'ConnectionLost',
  badSession: 'BadSession',
  serviceUnavailable: 'ServiceUnavailable',
  connectionReplaced: 'ConnectionReplaced',
  loggedOut: 'LoggedOut',
  forbidden: 'Forbidden',
  temporarilyBanned: 'TemporarilyBanned',
  banned: 'Banned',
  multideviceMismatch: 'MultideviceMismatch',
  clientVersionRejected: 'ClientVersionRejected',
  qrExpired: 'QRExpired',
  unknown: 'UnknownDisconnect',
  shutdown: 'Shutdown',
  recycled: 'Recycled',
  storeUnavailable: 'StoreUnavailable',
  eventSinkUnavailable: 'EventSinkUnavailable',
  leaseLost: 'LeaseLost',
  loggedOutByCommand: LOGGED_OUT_BY_COMMAND,
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];

export type StateAction = 'keep' | 'quarantine' | 'erase';

export type Decision =
  | {
      kind: 'reconnect';
      reason: Reason;
      delayMs: number;
      /** Await the pending creds save before the next socket (515 after pairing). */
      flushCredsFirst: boolean;
      /** The reconnect loop is failing persistently: report degraded and alert. */
      degraded: boolean;
    }
  | {
      kind: 'verify-lease-then-reconnect';
      reason: Reason;
      delayMs: number;
      /** 440 keeps coming back: someone else is using these credentials. */
      alert: boolean;
      degraded: boolean;
    }
  | {
      /** Reconnect only when an outside condition clears (NATS back); `delayMs` is the re-check period. */
      kind: 'wait-then-reconnect';
      reason: Reason;
      delayMs: number;
      degraded: boolean;
    }
  | {
      kind: 'stop';
      reason: Reason;
      /** Error: needs a human. Disconnected: waits for a command (pair). */
      phase: 'Error' | 'Disconnected';
      state: StateAction;
      /** Leave the process (lease lost: another worker owns the channel; shutdown). */
      exit: boolean;
    };

export interface ReconnectHistory {
  /** Failed connection attempts since the last connection that stayed open long enough. */
  consecutiveFailures: number;
  /** 515s in the recent window (ReconnectParams.restartWindowMs). */
  recentRestarts: number;
  /** 440s in the recent window (ReconnectParams.replacedWindowMs). */
  recentReplaced: number;
}

export interface ReconnectParams {
  baseDelayMs: number;
  maxDelayMs: number;
  /** 503: the service asked us to come back later; start slower. */
  unavailableBaseDelayMs: number;
  /** Never reconnect sooner than this after a 440. */
  replacedMinDelayMs: number;
  /** 515s allowed back to back before they are treated like any other failure. */
  restartBurstLimit: number;
  /** Consecutive failures after which the loop is "degraded" and slows to `degradedDelayMs`. */
  breakerThreshold: number;
  degradedDelayMs: number;
  /** 440s in the window after which an alert is raised. */
  replacedAlertThreshold: number;
  onLoggedOut: StateAction;
  onBanned: StateAction;
  /** How often to look again whether NATS or S3 are back. */
  dependencyRecheckMs: number;
  /** Pause after a failed commit before reconnecting from durable state. */
  storeFailureDelayMs: number;
}

export const DEFAULT_RECONNECT_PARAMS: ReconnectParams = {
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  unavailableBaseDelayMs: 5_000,
  replacedMinDelayMs: 30_000,
  restartBurstLimit: 3,
  breakerThreshold: 10,
  degradedDelayMs: 300_000,
  replacedAlertThreshold: 2,
  onLoggedOut: 'quarantine',
  onBanned: 'keep',
  dependencyRecheckMs: 5_000,
  storeFailureDelayMs: 5_000,
};

/**
 * Exponential backoff with full jitter (AWS architecture blog): uniform in
 * [0, min(cap, base·2^attempt)). `random` returns a number in [0, 1).
 */
export function fullJitterDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

type Classified =
  | { cls: 'restart'; reason: Reason }
  | { cls: 'transient'; reason: Reason; baseMs?: number }
  | { cls: 'replaced'; reason: Reason }
  | { cls: 'dead-credentials'; reason: Reason }
  | { cls: 'restricted'; reason: Reason }
  | { cls: 'outdated'; reason: Reason }
  | { cls: 'qr-expired'; reason: Reason }
  | { cls: 'local'; cause: LocalCause };

/** The close cause → class step of the table, separately testable. */
export function classifyClose(cause: CloseCause): Classified {
  if (cause.local !== undefined) return { cls: 'local', cause: cause.local };
  if (cause.message?.includes(QR_REFS_ENDED_MESSAGE)) return { cls: 'qr-expired', reason: REASONS.qrExpired };
  switch (cause.statusCode) {
    case DisconnectCode.restartRequired:
      return { cls: 'restart', reason: REASONS.restartRequired };
    case DisconnectCode.connectionClosed:
      return { cls: 'transient', reason: REASONS.connectionClosed };
    case DisconnectCode.timedOut:
      return { cls: 'transient', reason: REASONS.connectionLost };
    case DisconnectCode.badSession:
      return { cls: 'transient', reason: REASONS.badSession };
    case DisconnectCode.unavailableService:
      return { cls: 'transient', reason: REASONS.serviceUnavailable, baseMs: -1 };
    case DisconnectCode.connectionReplaced:
      return { cls: 'replaced', reason: REASONS.connectionReplaced };
    case DisconnectCode.loggedOut:
      return { cls: 'dead-credentials', reason: REASONS.loggedOut };
    case DisconnectCode.multideviceMismatch:
      return { cls: 'dead-credentials', reason: REASONS.multideviceMismatch };
    case DisconnectCode.forbidden:
      return { cls: 'restricted', reason: REASONS.forbidden };
    case DisconnectCode.paymentRequired:
      return { cls: 'restricted', reason: REASONS.temporarilyBanned };
    case DisconnectCode.banned:
      return { cls: 'restricted', reason: REASONS.banned };
    case DisconnectCode.clientOutdated:
      return { cls: 'outdated', reason: REASONS.clientVersionRejected };
    default:
      return { cls: 'transient', reason: REASONS.unknown };
  }
}

export function decideAfterClose(
  cause: CloseCause,
  history: ReconnectHistory,
  params: ReconnectParams,
  random: () => number,
): Decision {
  const c = classifyClose(cause);
  const degraded = history.consecutiveFailures >= params.breakerThreshold;
  const backoff = (reason: Reason, baseMs = params.baseDelayMs): Decision => ({
    kind: 'reconnect',
    reason,
    delayMs: degraded
      ? // Degraded: a slow, jittered cadence instead of hammering WhatsApp (and alerting).
        Math.floor(params.degradedDelayMs * (0.5 + random() / 2))
      : fullJitterDelay(history.consecutiveFailures, baseMs, params.maxDelayMs, random),
    flushCredsFirst: false,
    degraded,
  });
  const stop = (
    reason: Reason,
    phase: 'Error' | 'Disconnected',
    state: StateAction,
    exit = false,
  ): Decision => ({
    kind: 'stop',
    reason,
    phase,
    state,
    exit,
  });

  switch (c.cls) {
    case 'restart':
      // Expected right after pairing: reconnect at once with the in-memory creds, after their
      // save is durable. A burst of them is not normal any more: fall back to backoff.
      if (history.recentRestarts >= params.restartBurstLimit) return backoff(c.reason);
      return { kind: 'reconnect', reason: c.reason, delayMs: 0, flushCredsFirst: true, degraded: false };
    case 'transient':
      return backoff(c.reason, c.baseMs === -1 ? params.unavailableBaseDelayMs : params.baseDelayMs);
    case 'replaced': {
      const jitter = fullJitterDelay(
        history.consecutiveFailures,
        params.baseDelayMs,
        params.maxDelayMs,
        random,
      );
      return {
        kind: 'verify-lease-then-reconnect',
        reason: c.reason,
        delayMs: params.replacedMinDelayMs + jitter,
        alert: history.recentReplaced + 1 >= params.replacedAlertThreshold,
        degraded,
      };
    }
    case 'dead-credentials':
      return stop(c.reason, 'Error', params.onLoggedOut);
    case 'restricted':
      return stop(c.reason, 'Error', params.onBanned);
    case 'outdated':
      // The credentials are fine; the client needs an upgrade. Never touch state.
      return stop(c.reason, 'Error', 'keep');
    case 'qr-expired':
      return stop(c.reason, 'Disconnected', 'keep');
    case 'local':
      switch (c.cause) {
        case 'shutdown':
          return stop(REASONS.shutdown, 'Disconnected', 'keep', true);
        case 'recycle':
          return {
            kind: 'reconnect',
            reason: REASONS.recycled,
            delayMs: 0,
            flushCredsFirst: true,
            degraded: false,
          };
        case 'store-failure':
          return {
            kind: 'wait-then-reconnect',
            reason: REASONS.storeUnavailable,
            delayMs: params.storeFailureDelayMs,
            degraded: true,
          };
        case 'sink-unavailable':
          return {
            kind: 'wait-then-reconnect',
            reason: REASONS.eventSinkUnavailable,
            delayMs: params.dependencyRecheckMs,
            degraded: true,
          };
        case 'qr-limit':
          return stop(REASONS.qrExpired, 'Disconnected', 'keep');
        case 'lease-lost':
          return stop(REASONS.leaseLost, 'Disconnected', 'keep', true);
        case 'logout':
          return stop(REASONS.loggedOutByCommand, 'Disconnected', 'erase');
      }
  }
}

/** Counters the policy needs, kept as plain data so the supervisor's bookkeeping is testable too. */
export interface HistoryLog {
  consecutiveFailures: number;
  restarts: number[]; // times of 515s
  replaced: number[]; // times of 440s
  openedAt: number | undefined;
}

export const EMPTY_HISTORY: HistoryLog = {
  consecutiveFailures: 0,
  restarts: [],
  replaced: [],
  openedAt: undefined,
};

export interface HistoryWindows {
  restartWindowMs: number;
  replacedWindowMs: number;
  /** A connection that stayed open this long resets the failure counter. */
  stableAfterMs: number;
}

export const DEFAULT_HISTORY_WINDOWS: HistoryWindows = {
  restartWindowMs: 5 * 60_000,
  replacedWindowMs: 10 * 60_000,
  stableAfterMs: 60_000,
};

export function recordOpen(log: HistoryLog, now: number): HistoryLog {
  return { ...log, openedAt: now };
}

/** Records a close and returns the new log plus the summary the policy reads. */
export function recordClose(
  log: HistoryLog,
  cause: CloseCause,
  now: number,
  windows: HistoryWindows,
): { log: HistoryLog; history: ReconnectHistory } {
  // Only a connection that stayed open for a while proves the loop is healthy again; a brief
  // open between two 440s must not reset the counter (fazer-ai/baileys-api PR #309).
  const stable = log.openedAt !== undefined && now - log.openedAt >= windows.stableAfterMs;
  const before = stable ? 0 : log.consecutiveFailures;
  const c = classifyClose(cause);
  const restarts = log.restarts.filter((t) => now - t < windows.restartWindowMs);
  const replaced = log.replaced.filter((t) => now - t < windows.replacedWindowMs);
  const history: ReconnectHistory = {
    consecutiveFailures: before,
    recentRestarts: restarts.length,
    recentReplaced: replaced.length,
  };
  const failure =
    c.cls !== 'restart' && !(c.cls === 'local' && (c.cause === 'recycle' || c.cause === 'shutdown'));
  const next: HistoryLog = {
    consecutiveFailures: failure ? before + 1 : before,
    restarts: c.cls === 'restart' ? [...restarts, now] : restarts,
    replaced: c.cls === 'replaced' ? [...replaced, now] : replaced,
    openedAt: undefined,
  };
  return { log: next, history };
}
