import { WorkerSuite, eventually } from '../worker/worker-harness.ts';
import { CASE_TIMEOUT_MS, FAULT_MS, Proxies, statusTrail } from './fault-case.ts';

/**
 * Fencing across an outage: the worker that lost S3 gives the lease up; another worker (which
 * reaches S3) takes the channel after the lease expired. When S3 comes back the first worker
 * must not take the lease back: it says the channel was taken over and exits 3 — the only exit
 * of the whole fault suite, and never two live connections on the way.
 */
const proxies = new Proxies();
const suite = new WorkerSuite('fault-takeover', () => proxies.stopAll());

test(
  'S3 away for 60 s while another worker takes the channel: the first stops with exit 3 and says why',
  async () => {
    const phone = '5511900000108';
    const env = suite.envFor('takeover');
    const { proxy, env: via } = await proxies.for('s3', env);
    const { worker: first, device, watch } = await suite.pair(env, 'pod-a', phone, via);
    const qrsOfPairing = watch.pairing.length;

    proxy.down();
    await watch.waitStatus(
      'pod-a gives the lease up',
      (s) => s.worker === 'pod-a' && s.reason === 'LeaseLost' && /S3 unreachable/.test(s.message ?? ''),
    );
    // A replacement pod, with S3 in reach, waits for the expiry and takes the channel.
    const second = await suite.startWorker(env, 'pod-b');
    await watch.waitStatus('pod-b Connected', (s) => s.worker === 'pod-b' && s.phase === 'Connected');
    await new Promise((r) => setTimeout(r, FAULT_MS));
    proxy.up();

    expect(await first.exited).toBe(3);
    const stopped = watch.status.filter((s) => s.worker === 'pod-a').at(-1)!;
    expect(stopped).toMatchObject({ phase: 'Disconnected', reason: 'LeaseLost' });
    expect(stopped.message).toMatch(
      /^the channel was taken over by pod-b \(lease epoch \d+\); this worker stops$/,
    );
    expect(first.logs()).toMatch(/"holder":"pod-b".*"msg":"the channel was taken over by pod-b/);
    // pod-a never connected again, and the two never held a connection at once.
    const aAfterLoss = watch.status.filter(
      (s) => s.worker === 'pod-a' && s.seq > watch.status.find((x) => x.reason === 'LeaseLost')!.seq,
    );
    expect(aAfterLoss.map((s) => s.phase)).not.toContain('Connected');
    expect(suite.sim.connections.maxConcurrent(device)).toBe(1);
    expect(watch.pairing).toHaveLength(qrsOfPairing); // pod-b showed no QR: the same session
    await eventually('pod-b still Connected', async () => second.child.exitCode === null);
    console.log(
      `[fault] takeover: pod-a ${statusTrail(watch, 'pod-a')}; pod-b ${statusTrail(watch, 'pod-b')}`,
    );
    watch.stop();
  },
  CASE_TIMEOUT_MS,
);
