import {
  DEFAULT_HISTORY_WINDOWS,
  DEFAULT_RECONNECT_PARAMS,
  EMPTY_HISTORY,
  LOCAL_CAUSES,
  QR_REFS_ENDED_MESSAGE,
  REASONS,
  classifyClose,
  decideAfterClose,
  fullJitterDelay,
  recordClose,
  recordOpen,
  type CloseCause,
  type Decision,
  type ReconnectHistory,
} from '../../../worker/src/session/reconnect-policy.ts';

const P = DEFAULT_RECONNECT_PARAMS;
const calm: ReconnectHistory = { consecutiveFailures: 0, recentRestarts: 0, recentReplaced: 0 };
const code = (statusCode: number | undefined, message = 'x'): CloseCause => ({
  statusCode,
  message,
  local: undefined,
});
const half = () => 0.5;

describe('reconnect policy table', () => {
  // Every status code Baileys can report (DisconnectReason + failure-node reasons), one row each.
  const rows: [number | undefined, Decision['kind'], string, string | null][] = [
    [515, 'reconnect', REASONS.restartRequired, null],
    [428, 'reconnect', REASONS.connectionClosed, null],
    [408, 'reconnect', REASONS.connectionLost, null],
    [500, 'reconnect', REASONS.badSession, null],
    [503, 'reconnect', REASONS.serviceUnavailable, null],
    [440, 'verify-lease-then-reconnect', REASONS.connectionReplaced, null],
    [401, 'stop', REASONS.loggedOut, 'quarantine'],
    [411, 'stop', REASONS.multideviceMismatch, 'quarantine'],
    [403, 'stop', REASONS.forbidden, 'keep'],
    [402, 'stop', REASONS.temporarilyBanned, 'keep'],
    [406, 'stop', REASONS.banned, 'keep'],
    [405, 'stop', REASONS.clientVersionRejected, 'keep'],
    [undefined, 'reconnect', REASONS.unknown, null],
    [999, 'reconnect', REASONS.unknown, null],
  ];
  test.each(rows)('status %p → %s (%s)', (status, kind, reason, state) => {
    const d = decideAfterClose(code(status), calm, P, half);
    expect(d.kind).toBe(kind);
    expect(d.reason).toBe(reason);
    if (d.kind === 'stop') {
      expect(d.state).toBe(state);
      expect(d.phase).toBe('Error');
      expect(d.exit).toBe(false);
    }
  });

  test('500 never erases or quarantines state, however often it repeats', () => {
    for (let n = 0; n < 50; n++) {
      const d = decideAfterClose(code(500), { ...calm, consecutiveFailures: n }, P, Math.random);
      expect(d.kind).toBe('reconnect');
    }
  });

  test('515 reconnects at once after flushing creds; a burst of them falls back to backoff', () => {
    const first = decideAfterClose(code(515), calm, P, half);
    expect(first).toEqual({
      kind: 'reconnect',
      reason: 'RestartRequired',
      delayMs: 0,
      flushCredsFirst: true,
      degraded: false,
    });
    const burst = decideAfterClose(
      code(515),
      { ...calm, recentRestarts: 3, consecutiveFailures: 2 },
      P,
      half,
    );
    expect(burst.kind).toBe('reconnect');
    expect(burst.kind === 'reconnect' && burst.flushCredsFirst).toBe(false);
    expect(burst.kind === 'reconnect' && burst.delayMs).toBe(
      fullJitterDelay(2, P.baseDelayMs, P.maxDelayMs, half),
    );
  });

  test('QR refs ended (a 408) stops and waits for a new pairing request; no state change', () => {
    const d = decideAfterClose(code(408, QR_REFS_ENDED_MESSAGE), calm, P, half);
    expect(d).toEqual({
      kind: 'stop',
      reason: 'QRExpired',
      phase: 'Disconnected',
      state: 'keep',
      exit: false,
    });
  });

  test('440 waits at least 30 s, verifies the lease, and alerts when it repeats', () => {
    for (const r of [0, 0.999]) {
      const d = decideAfterClose(code(440), calm, P, () => r);
      expect(d.kind).toBe('verify-lease-then-reconnect');
      expect(d.kind === 'verify-lease-then-reconnect' && d.delayMs).toBeGreaterThanOrEqual(30_000);
    }
    const once = decideAfterClose(code(440), calm, P, half);
    const again = decideAfterClose(code(440), { ...calm, recentReplaced: 1 }, P, half);
    expect(once.kind === 'verify-lease-then-reconnect' && once.alert).toBe(false);
    expect(again.kind === 'verify-lease-then-reconnect' && again.alert).toBe(true);
  });

  test('the state action for dead credentials and bans follows the configuration', () => {
    const params = { ...P, onLoggedOut: 'erase' as const, onBanned: 'quarantine' as const };
    const loggedOut = decideAfterClose(code(401), calm, params, half);
    const banned = decideAfterClose(code(403), calm, params, half);
    expect(loggedOut.kind === 'stop' && loggedOut.state).toBe('erase');
    expect(banned.kind === 'stop' && banned.state).toBe('quarantine');
  });

  test('503 backs off from a slower base than 428', () => {
    const max = () => 0.999999;
    const closed = decideAfterClose(code(428), calm, P, max);
    const unavailable = decideAfterClose(code(503), calm, P, max);
    expect(closed.kind === 'reconnect' && closed.delayMs).toBe(999);
    expect(unavailable.kind === 'reconnect' && unavailable.delayMs).toBe(4999);
  });

  test('after the breaker threshold the loop is degraded and slows to the degraded cadence', () => {
    const d = decideAfterClose(code(428), { ...calm, consecutiveFailures: P.breakerThreshold }, P, () => 0);
    expect(d).toMatchObject({ kind: 'reconnect', degraded: true, delayMs: P.degradedDelayMs / 2 });
    const before = decideAfterClose(
      code(428),
      { ...calm, consecutiveFailures: P.breakerThreshold - 1 },
      P,
      () => 0,
    );
    expect(before).toMatchObject({ kind: 'reconnect', degraded: false });
  });

  test.each(LOCAL_CAUSES)('local cause %s has a decision', (local) => {
    const d = decideAfterClose({ statusCode: 428, message: 'x', local }, calm, P, half);
    expect(d.reason).toBeTruthy();
  });

  test('local causes take precedence over the status code Baileys reports', () => {
    expect(decideAfterClose({ statusCode: 500, message: 'x', local: 'shutdown' }, calm, P, half)).toEqual({
      kind: 'stop',
      reason: 'Shutdown',
      phase: 'Disconnected',
      state: 'keep',
      exit: true,
    });
    expect(
      decideAfterClose({ statusCode: 428, message: 'x', local: 'lease-lost' }, calm, P, half),
    ).toMatchObject({
      kind: 'stop',
      exit: true,
      state: 'keep',
    });
    expect(
      decideAfterClose({ statusCode: 428, message: 'x', local: 'recycle' }, calm, P, half),
    ).toMatchObject({
      kind: 'reconnect',
      delayMs: 0,
      flushCredsFirst: true,
    });
    expect(
      decideAfterClose({ statusCode: 428, message: 'x', local: 'sink-unavailable' }, calm, P, half),
    ).toMatchObject({ kind: 'wait-then-reconnect', reason: 'EventSinkUnavailable' });
    expect(
      decideAfterClose({ statusCode: 428, message: 'x', local: 'qr-limit' }, calm, P, half),
    ).toMatchObject({
      kind: 'stop',
      reason: 'QRExpired',
      phase: 'Disconnected',
    });
    expect(decideAfterClose({ statusCode: 401, message: 'x', local: 'logout' }, calm, P, half)).toMatchObject(
      {
        kind: 'stop',
        reason: 'LoggedOutByCommand',
        state: 'erase',
      },
    );
  });

  test('classification is independent of the message except for QR expiry', () => {
    expect(classifyClose(code(408, 'Connection was lost'))).toEqual({
      cls: 'transient',
      reason: 'ConnectionLost',
    });
    expect(classifyClose(code(408, `Error: ${QR_REFS_ENDED_MESSAGE}`))).toEqual({
      cls: 'qr-expired',
      reason: 'QRExpired',
    });
  });
});

describe('full jitter backoff', () => {
  test('is uniform below min(cap, base·2^attempt)', () => {
    expect(fullJitterDelay(0, 1000, 60_000, () => 0)).toBe(0);
    expect(fullJitterDelay(0, 1000, 60_000, () => 0.5)).toBe(500);
    expect(fullJitterDelay(3, 1000, 60_000, () => 0.5)).toBe(4000);
    expect(fullJitterDelay(10, 1000, 60_000, () => 0.999999)).toBe(59_999);
    expect(fullJitterDelay(1000, 1000, 60_000, () => 0.5)).toBe(30_000);
  });
});

describe('history bookkeeping', () => {
  const W = DEFAULT_HISTORY_WINDOWS;
  test('failures accumulate until a connection stays open long enough', () => {
    let log = EMPTY_HISTORY;
    let t = 0;
    for (let i = 0; i < 3; i++) {
      const r = recordClose(log, code(428), (t += 1000), W);
      expect(r.history.consecutiveFailures).toBe(i);
      log = r.log;
    }
    // A brief open does not reset (a 440 loop would never trip the breaker otherwise)…
    log = recordOpen(log, (t += 1000));
    let r = recordClose(log, code(440), (t += 5000), W);
    expect(r.history.consecutiveFailures).toBe(3);
    // …a stable one does.
    log = recordOpen(r.log, (t += 1000));
    r = recordClose(log, code(428), (t += W.stableAfterMs), W);
    expect(r.history.consecutiveFailures).toBe(0);
    expect(r.log.consecutiveFailures).toBe(1);
  });

  test('515s and 440s are counted in their windows and forgotten after them', () => {
    let log = EMPTY_HISTORY;
    let r = recordClose(log, code(515), 0, W);
    r = recordClose(r.log, code(515), 1000, W);
    r = recordClose(r.log, code(440), 2000, W);
    r = recordClose(r.log, code(515), 3000, W);
    expect(r.history).toEqual({ consecutiveFailures: 1, recentRestarts: 2, recentReplaced: 1 });
    log = r.log;
    r = recordClose(log, code(428), 3000 + W.replacedWindowMs + 1, W);
    expect(r.history.recentRestarts).toBe(0);
    expect(r.history.recentReplaced).toBe(0);
  });

  test('restarts, recycles and shutdowns are not failures', () => {
    let r = recordClose(EMPTY_HISTORY, code(515), 0, W);
    r = recordClose(r.log, { statusCode: undefined, message: undefined, local: 'recycle' }, 1, W);
    r = recordClose(r.log, { statusCode: undefined, message: undefined, local: 'shutdown' }, 2, W);
    expect(r.log.consecutiveFailures).toBe(0);
  });
});
