/**
 * The channel phases (contract/phases) as a pure transition table for the session. The
 * supervisor feeds it what happens to the session; it answers the next phase, and whether that
 * is a change worth publishing. Events that make no sense in a phase (a QR code after the
 * session opened, say) leave the phase alone; the table says so explicitly so the unit test can
 * walk every pair.
 */

import { PHASES, type Phase } from '../../../contract/index.ts';

export { PHASES, type Phase };

/**
 * What happens to a running session. Pending (start-up) and a start-up Error are published by
 * start-up itself before a session exists (events/status-publisher.ts); Suspended is the
 * operator's, with no worker running.
 */
export type SessionEvent =
  /** A new socket is being opened. */
  | { type: 'connecting' }
  /** Baileys produced a QR code to scan. */
  | { type: 'qr' }
  /** A pairing code was requested and is shown on the phone's screen. */
  | { type: 'pairing-code' }
  /** The socket logged in (`connection: 'open'`). */
  | { type: 'open' }
  /** The socket closed; the reconnect policy decided the resulting phase. */
  | { type: 'closed'; phase: 'Disconnected' | 'Error'; reason: string };

export type EventType = SessionEvent['type'];
export const EVENT_TYPES: readonly EventType[] = ['connecting', 'qr', 'pairing-code', 'open', 'closed'];

/** For each event, the phases it may come from. Anything else is ignored. */
const ALLOWED_FROM: Record<EventType, readonly Phase[]> = {
  // Error → Connecting only happens when an operator asks for a new pairing.
  connecting: ['Pending', 'Connecting', 'Disconnected', 'Error', 'QRRequired', 'Pairing', 'Suspended'],
  qr: ['Connecting', 'QRRequired'],
  'pairing-code': ['Connecting', 'QRRequired', 'Pairing'],
  open: ['Connecting', 'QRRequired', 'Pairing'],
  closed: ['Connecting', 'QRRequired', 'Pairing', 'Connected', 'Disconnected'],
};

const TARGET: Record<Exclude<EventType, 'closed'>, Phase> = {
  connecting: 'Connecting',
  qr: 'QRRequired',
  'pairing-code': 'Pairing',
  open: 'Connected',
};

export interface PhaseState {
  phase: Phase;
  reason: string | undefined;
}

export interface Transition {
  next: PhaseState;
  /** The phase or the reason changed: publish a status event. */
  changed: boolean;
  /** The event is not valid in the current phase and was ignored. */
  ignored: boolean;
}

export function isAllowed(from: Phase, event: EventType): boolean {
  return ALLOWED_FROM[event].includes(from);
}

export function transition(current: PhaseState, event: SessionEvent): Transition {
  if (!isAllowed(current.phase, event.type)) return { next: current, changed: false, ignored: true };
  // A fresh QR keeps the phase but is itself news: callers publish QR codes separately.
  const next: PhaseState =
    event.type === 'closed'
      ? { phase: event.phase, reason: event.reason }
      : { phase: TARGET[event.type], reason: undefined };
  const changed = next.phase !== current.phase || next.reason !== current.reason;
  return { next, changed, ignored: false };
}

export const INITIAL_PHASE: PhaseState = { phase: 'Pending', reason: undefined };
