import {
  ChannelWatch,
  eventually,
  WorkerSuite,
  type ChannelEnv,
  type WorkerProcess,
} from './worker-harness.ts';

/**
 * The worker process end to end: unmodified Baileys inside the worker process (the bundle of `worker/src/main.ts`) against the
 * protocol simulator, with real NATS, MinIO and local-kms. Pairing by QR, restoring the session
 * after SIGKILL without a QR, and exactly one live connection when a second worker starts.
 */
const suite = new WorkerSuite('wpair');
let env: ChannelEnv;
beforeAll(() => {
  env = suite.envFor('front-desk');
});
/** This file's workers, in start order. */
const workers: WorkerProcess[] = [];

async function spawnWorker(holder: string, extra: Record<string, string> = {}) {
  const w = await suite.startWorker(env, holder, extra);
  workers.push(w);
  return w;
}

describe('worker session against the protocol simulator', () => {
  const phone = () => suite.sim.phone('5511900000001', 'Clinic Phone');
  let device = '';

  test('QR on NATS, the phone scans, Connecting → QRRequired → Connected, creds stored encrypted', async () => {
    const watch = await ChannelWatch.start(suite.nc, env.clinic, env.channel);
    const w = await spawnWorker('pod-1');
    const qr = await watch.waitQr();
    expect(qr).toMatchObject({ type: 'qr', attempt: 1, clinicId: env.clinic, channelId: env.channel });
    device = await phone().scanQr(qr.qr!);
    const connected = await watch.waitStatus('Connected', (s) => s.phase === 'Connected');
    expect(connected.account?.split(':')[0]).toBe(phone().pn);
    // The order of phases the backend saw (Disconnected/RestartRequired is the 515 after pairing).
    const phases = watch.phases('pod-1');
    expect(phases.slice(0, 3)).toEqual(['Pending', 'Connecting', 'QRRequired']);
    expect(phases.at(-1)).toBe('Connected');
    expect(phases.indexOf('QRRequired')).toBeLessThan(phases.indexOf('Connected'));
    expect(watch.invalid).toEqual([]);
    // The linked device's state is in S3, and nothing in it is readable.
    const objects = await env.storage.store.list(`wa/${env.clinic}/${env.channel}/`);
    expect(objects.length).toBeGreaterThan(2);
    for (const o of objects.filter((x) => !x.key.endsWith('/lease'))) {
      const body = Buffer.from((await env.storage.store.get(o.key))!.body).toString('latin1');
      expect(body).not.toMatch(/noiseKey|signedIdentityKey|advSecretKey|5511900000001/);
    }
    expect(suite.sim.connections.maxConcurrent(device)).toBe(1);
    watch.stop();
    // Keep it running for the next test.
    expect(w.child.exitCode).toBeNull();
  });

  test('SIGKILL, then a restart reaches Connected without a QR code', async () => {
    const first = workers.at(-1)!;
    first.kill('SIGKILL');
    await first.exited;
    const watch = await ChannelWatch.start(suite.nc, env.clinic, env.channel);
    // Same pod, restarted container: same lease holder, so it does not wait for the lease to expire.
    await spawnWorker('pod-1');
    await watch.waitStatus('Connected after restart', (s) => s.phase === 'Connected');
    expect(watch.pairing).toEqual([]);
    expect(watch.phases()).not.toContain('QRRequired');
    expect(suite.sim.connections.maxConcurrent(device)).toBe(1);
    watch.stop();
  });

  test('a second worker for the same channel never connects while the first holds the lease', async () => {
    const watch = await ChannelWatch.start(suite.nc, env.clinic, env.channel);
    const logins = suite.sim.connections.records(device).filter((r) => r.liveAt !== undefined).length;
    const second = await spawnWorker('pod-2');
    await watch.waitStatus('pod-2 Pending', (s) => s.worker === 'pod-2' && s.phase === 'Pending');
    await eventually('pod-2 to report it waits for the lease', async () =>
      second.logs().includes('waiting for the channel lease'),
    );
    // Give it time to misbehave: it must stay Pending and open no connection.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(watch.phases('pod-2')).toEqual(['Pending']);
    expect(suite.sim.connections.records(device).filter((r) => r.liveAt !== undefined).length).toBe(logins);
    expect(suite.sim.connections.overlaps(device)).toEqual([]);
    expect(suite.sim.connections.maxConcurrent(device)).toBe(1);
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    watch.stop();
  });
});
