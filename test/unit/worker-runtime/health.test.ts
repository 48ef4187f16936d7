import { runningWorkerHealth, startingWorkerHealth } from '../../../worker/src/ops/health.ts';
import type { HealthSource } from '../../../worker/src/ops/http.ts';
import type { SessionHealth } from '../../../worker/src/ops/health.ts';

function parts(over: { renewing?: boolean; session?: Partial<SessionHealth>; events?: boolean } = {}) {
  const session: SessionHealth = { phase: 'Connected', reason: undefined, degraded: false, ...over.session };
  return {
    lease: { renewing: () => over.renewing ?? true },
    session,
    events: { healthy: () => over.events ?? true },
  };
}

describe('worker health rules', () => {
  test('live follows the lease renewal loop only, never WhatsApp', () => {
    expect(runningWorkerHealth(parts()).live().ok).toBe(true);
    expect(runningWorkerHealth(parts({ session: { phase: 'Error', reason: 'LoggedOut' } })).live().ok).toBe(
      true,
    );
    expect(runningWorkerHealth(parts({ events: false })).live().ok).toBe(true);
    const wedged = runningWorkerHealth(parts({ renewing: false })).live();
    expect(wedged).toEqual({ ok: false, detail: { lease: false, phase: 'Connected' } });
  });

  test('ready needs Connected, not degraded, and JetStream taking events', () => {
    expect(runningWorkerHealth(parts()).ready().ok).toBe(true);
    for (const phase of ['Connecting', 'QRRequired', 'Disconnected', 'Error'] as const) {
      expect(runningWorkerHealth(parts({ session: { phase } })).ready().ok).toBe(false);
    }
    expect(runningWorkerHealth(parts({ session: { degraded: true } })).ready().ok).toBe(false);
    const noEvents = runningWorkerHealth(parts({ events: false })).ready();
    expect(noEvents).toEqual({
      ok: false,
      detail: { phase: 'Connected', reason: undefined, events: false, degraded: false },
    });
  });

  test('while starting: live and not ready with the start-up phase, then the running worker decides', () => {
    const current: { running?: HealthSource } = {};
    const health = startingWorkerHealth(
      () => 'Pending',
      () => current.running,
    );
    expect(health.live()).toEqual({ ok: true, detail: { phase: 'Pending' } });
    expect(health.ready()).toEqual({ ok: false, detail: { phase: 'Pending' } });
    current.running = runningWorkerHealth(parts({ renewing: false }));
    expect(health.live().ok).toBe(false);
    expect(health.ready().ok).toBe(true);
  });
});
