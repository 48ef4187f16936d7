import {
  EVENT_TYPES,
  INITIAL_PHASE,
  PHASES,
  isAllowed,
  transition,
  type EventType,
  type Phase,
  type SessionEvent,
} from '../../../worker/src/session/phase-machine.ts';

const sample = (type: EventType): SessionEvent =>
  type === 'closed' ? { type, phase: 'Disconnected', reason: 'ConnectionClosed' } : { type };

// The expected table, written out by hand: from-phase → events that move it. Pending and a
// start-up Error are published by start-up before a session exists; no session event leads to
// Suspended (the operator's phase, with no worker running).
const EXPECTED: Record<Phase, EventType[]> = {
  Pending: ['connecting'],
  Connecting: ['connecting', 'qr', 'pairing-code', 'open', 'closed'],
  QRRequired: ['connecting', 'qr', 'pairing-code', 'open', 'closed'],
  Pairing: ['connecting', 'pairing-code', 'open', 'closed'],
  Connected: ['closed'],
  Disconnected: ['connecting', 'closed'],
  Error: ['connecting'],
  Suspended: ['connecting'],
};

describe('phase machine', () => {
  const pairs = PHASES.flatMap((p) => EVENT_TYPES.map((e) => [p, e] as const));
  test.each(pairs)('%s + %s', (phase, type) => {
    const allowed = EXPECTED[phase].includes(type);
    expect(isAllowed(phase, type)).toBe(allowed);
    const t = transition({ phase, reason: 'before' }, sample(type));
    expect(t.ignored).toBe(!allowed);
    if (!allowed) {
      expect(t.next).toEqual({ phase, reason: 'before' });
      expect(t.changed).toBe(false);
    }
  });

  test('the usual first pairing: Pending → Connecting → QRRequired → Connecting → Connected', () => {
    let s = INITIAL_PHASE;
    const seen: Phase[] = [s.phase];
    for (const e of [
      { type: 'connecting' },
      { type: 'qr' },
      { type: 'qr' },
      { type: 'closed', phase: 'Disconnected', reason: 'RestartRequired' },
      { type: 'connecting' },
      { type: 'open' },
    ] as SessionEvent[]) {
      const t = transition(s, e);
      if (t.changed) seen.push(t.next.phase);
      s = t.next;
    }
    expect(seen).toEqual(['Pending', 'Connecting', 'QRRequired', 'Disconnected', 'Connecting', 'Connected']);
  });

  test('a closed event carries the policy phase and reason; the same again is not a change', () => {
    const t = transition(
      { phase: 'Connected', reason: undefined },
      { type: 'closed', phase: 'Error', reason: 'LoggedOut' },
    );
    expect(t.next).toEqual({ phase: 'Error', reason: 'LoggedOut' });
    expect(t.changed).toBe(true);
    const again = transition(
      { phase: 'Disconnected', reason: 'X' },
      { type: 'closed', phase: 'Disconnected', reason: 'X' },
    );
    expect(again.changed).toBe(false);
    expect(again.ignored).toBe(false);
  });

  test('an Error is sticky: the socket cannot reopen without a new connection attempt', () => {
    const t = transition({ phase: 'Error', reason: 'LoggedOut' }, { type: 'open' });
    expect(t.ignored).toBe(true);
    expect(t.next.phase).toBe('Error');
  });
});
