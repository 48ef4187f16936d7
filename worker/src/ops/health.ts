/**
 * The worker's health rules, read by the HTTP endpoints (http.ts).
 *
 * - Live: the lease renewal loop is current. Never WhatsApp: a pod restarted because WhatsApp is
 *   unreachable comes back to the same unreachable WhatsApp, and restart loops cause 440 storms.
 * - Ready: the session is Connected, not degraded, and JetStream takes events.
 *
 * Before the session exists (lease and auth state still loading) the worker is live and not
 * ready, and both show the start-up phase.
 */
import type { Phase } from '../session/phase-machine.ts';
import type { HealthSource } from './http.ts';

export interface SessionHealth {
  readonly phase: Phase;
  readonly reason: string | undefined;
  readonly degraded: boolean;
}

export interface RunningWorkerParts {
  lease: { renewing(): boolean };
  session: SessionHealth;
  events: { healthy(): boolean };
}

export function runningWorkerHealth({ lease, session, events }: RunningWorkerParts): HealthSource {
  return {
    live: () => {
      const renewing = lease.renewing();
      return { ok: renewing, detail: { lease: renewing, phase: session.phase } };
    },
    ready: () => {
      const connected = session.phase === 'Connected';
      const eventsHealthy = events.healthy();
      return {
        ok: connected && eventsHealthy && !session.degraded,
        detail: {
          phase: session.phase,
          reason: session.reason,
          events: eventsHealthy,
          degraded: session.degraded,
        },
      };
    },
  };
}

/** Health while starting: the running worker's once it exists, before that live and not ready. */
export function startingWorkerHealth(
  phase: () => Phase,
  running: () => HealthSource | undefined,
): HealthSource {
  return {
    live: () => running()?.live() ?? { ok: true, detail: { phase: phase() } },
    ready: () => running()?.ready() ?? { ok: false, detail: { phase: phase() } },
  };
}
