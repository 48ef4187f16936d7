import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startHttpServer } from '../../../worker/src/ops/http.ts';
import { createMetrics, setPhase } from '../../../worker/src/ops/metrics.ts';

/** The worker's HTTP endpoints over a real socket. */
describe('worker health and metrics endpoints', () => {
  let server: Server;
  let base: string;
  const state = { live: true, ready: false };
  const metrics = createMetrics({ clinic: 'clinic-a', channel: 'main' });

  beforeAll(async () => {
    server = await startHttpServer(
      0,
      {
        live: () => ({ ok: state.live, detail: {} }),
        ready: () => ({ ok: state.ready, detail: { phase: state.ready ? 'Connected' : 'Connecting' } }),
      },
      metrics.registry,
      '127.0.0.1',
    );
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('liveness and readiness follow their sources independently', async () => {
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ ok: false, detail: { phase: 'Connecting' } });
    state.ready = true;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    state.live = false;
    expect((await fetch(`${base}/livez`)).status).toBe(503);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/livez`, { method: 'POST' })).status).toBe(405);
  });

  test('metrics carry the clinic and channel and the current phase', async () => {
    setPhase(metrics, 'Connected');
    metrics.reconnects.inc({ reason: 'ConnectionClosed', decision: 'reconnect' });
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('wa_worker_phase{phase="Connected",clinic="clinic-a",channel="main"} 1');
    expect(text).toContain('wa_worker_phase{phase="QRRequired",clinic="clinic-a",channel="main"} 0');
    expect(text).toContain(
      'wa_worker_reconnects_total{reason="ConnectionClosed",decision="reconnect",clinic="clinic-a",channel="main"} 1',
    );
    expect(text).toContain('process_resident_memory_bytes');
  });
});
