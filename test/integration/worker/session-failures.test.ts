import { testStack } from '../../harness/stack.ts';
import { TcpProxy } from '../../harness/tcp-proxy.ts';
import { command, eventually, storedInbound, WorkerSuite } from './worker-harness.ts';

/**
 * Failures around a real worker process and the protocol simulator: S3 going away for a while,
 * transient server endings, and WhatsApp logging the device out.
 */
const proxies: TcpProxy[] = [];
const suite = new WorkerSuite('wfail', async () => {
  for (const p of proxies) await p.stop();
});
const clinic = suite.clinic;

/** A new channel paired to `phone`, its worker stopped after the tests. */
const pairChannel = (channel: string, holder: string, phone: string, extra: Record<string, string> = {}) =>
  suite.pair(suite.envFor(channel), holder, phone, extra);

/** A paired worker whose S3 requests go through a proxy the test can break. */
async function pairBehindS3Proxy(channel: string, holder: string, phone: string) {
  const proxy = await TcpProxy.start(testStack().s3.endpoint);
  proxies.push(proxy);
  return { proxy, ...(await pairChannel(channel, holder, phone, { WA_S3_ENDPOINT: proxy.url })) };
}

describe('worker failures end to end', () => {
  test('S3 unreachable for a while: nothing acknowledged is lost, degraded is reported, and it recovers', async () => {
    const phone = '5511900000011';
    const { proxy, worker, device, watch } = await pairBehindS3Proxy('lab', 'pod-s3', phone);
    const contact = suite.sim.contact('5511977770011', 'Patient');

    const device0 = () =>
      suite.sim
        .phone(phone)
        .devices()
        .find((d) => d.jid === device)!;
    const acknowledgedBefore = device0().acknowledged;
    proxy.down();
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) sent.push((await contact.sendText(phone, `during the outage ${i}`)).id);
    const degraded = await watch.waitStatus(
      'degraded while S3 is down',
      (s) => s.phase === 'Disconnected' && s.reason === 'StoreUnavailable',
    );
    expect(degraded.degraded).toBe(true);
    // A message is acknowledged only once its session keys are durable, and S3 is away: the
    // outage's messages are not all acknowledged, and what WhatsApp still holds is waiting for
    // the worker, not lost.
    expect(device0().acknowledged - acknowledgedBefore).toBeLessThan(sent.length);
    expect(device0().pending).toBeGreaterThan(0);
    proxy.up();

    await watch.waitStatus(
      () =>
        `Connected again after the outage; worker log:\n${worker
          .logs()
          .split('\n')
          .filter((l) => !l.includes('"level":"debug"'))
          .slice(-40)
          .join('\n')}`,
      (s) => s.phase === 'Connected' && s.seq > degraded.seq && s.worker === 'pod-s3',
    );
    const stored = await eventually('all 10 messages in JetStream', async () => {
      const all = await storedInbound(suite.nc, clinic, 'lab');
      return all.length >= 10 && all;
    });
    expect(stored.map((m) => m.msgId).sort()).toEqual([...sent].sort());
    await eventually('the server queue drained', async () => device0().pending === 0);
    expect(suite.sim.stats().retryReceipts).toBe(0);
    expect(suite.sim.connections.maxConcurrent(device)).toBe(1);
    expect(worker.child.exitCode).toBeNull();
    watch.stop();
  });

  test('S3 cut between its commit and its reply: the worker knows its own landed write, and goes on', async () => {
    const phone = '5511900000014';
    const { proxy, worker, device, watch } = await pairBehindS3Proxy('radiology', 'pod-cut', phone);
    const contact = suite.sim.contact('5511977770014', 'Patient');
    const journal = async () => (await suite.storage.store.list(`wa/${clinic}/radiology/journal/`)).length;
    const slotsBefore = await journal();

    // The next S3 request (a journal write for this message's session keys, or a lease renewal)
    // lands in MinIO; its answer never reaches the worker, and S3 stays away for a while.
    const cut = proxy.downAfterNextReply();
    const sent = [(await contact.sendText(phone, 'while S3 answers nothing')).id];
    await cut;
    const degraded = await watch.waitStatus('degraded after the cut', (s) => s.reason === 'StoreUnavailable');
    sent.push((await contact.sendText(phone, 'after the cut')).id);
    proxy.up();

    await watch.waitStatus(
      () => `Connected again after the cut; worker log:\n${worker.logs().split('\n').slice(-30).join('\n')}`,
      (s) => s.phase === 'Connected' && s.seq > degraded.seq && s.worker === 'pod-cut',
    );
    const stored = await eventually('both messages in JetStream', async () => {
      const all = await storedInbound(suite.nc, clinic, 'radiology');
      return all.length >= 2 && all;
    });
    expect(stored.map((m) => m.msgId).sort()).toEqual([...sent].sort());
    expect(await journal()).toBeGreaterThan(slotsBefore); // the sessions' keys were saved
    // Not mistaken for another worker's takeover: the lease was never lost, the process runs on.
    expect(watch.status.filter((s) => s.reason === 'LeaseLost')).toEqual([]);
    expect(worker.child.exitCode).toBeNull();
    expect(suite.sim.connections.maxConcurrent(device)).toBe(1);
    watch.stop();
  });

  test('a worker frozen past its lease deadline (a starved process) gives the lease up, takes it back and goes on by itself', async () => {
    const phone = '5511900000015';
    // A short lease (renewed every 2 s, given up 1 s before its 6 s expire) keeps the freeze short.
    const { worker, device, watch } = await pairChannel('dental', 'pod-frozen', phone, {
      WA_LEASE_TTL_SECONDS: '6',
    });
    const contact = suite.sim.contact('5511977770015', 'Patient');
    const leaseKey = `wa/${clinic}/dental/lease`;
    const epochOf = async () =>
      (
        JSON.parse(Buffer.from((await suite.storage.store.get(leaseKey))!.body).toString('utf8')) as {
          epoch: number;
        }
      ).epoch;
    const epochBefore = await epochOf();
    const qrsBefore = watch.pairing.filter((p) => p.type === 'qr').length;
    const statusesBefore = watch.status.length;

    // SIGSTOP: no CPU at all, the extreme of an event loop starved by a loaded machine. No renewal
    // runs; when the process runs again its lease has expired by its own clock.
    worker.child.kill('SIGSTOP');
    const sent: string[] = [];
    try {
      sent.push((await contact.sendText(phone, 'while the worker is frozen')).id);
      await new Promise((r) => setTimeout(r, 9_000));
    } finally {
      worker.child.kill('SIGCONT');
    }

    // Fencing as designed: the session closes with the lease given up, and no exit (nobody else took it).
    const lost = await watch.waitStatus(
      'LeaseLost after the freeze',
      (s) => s.reason === 'LeaseLost' && watch.status.indexOf(s) >= statusesBefore,
    );
    expect(lost.phase).toBe('Disconnected');
    // The cause named is the stall, not S3 (which answered all along).
    expect(lost.message).toMatch(
      /^lease could not be renewed: this worker's own timers ran \d+ ms late \(its process was stalled or starved of CPU\)/,
    );
    await watch.waitStatus(
      () =>
        `Connected again after the freeze; worker log:\n${worker.logs().split('\n').slice(-30).join('\n')}`,
      (s) => s.phase === 'Connected' && s.seq > lost.seq && s.worker === 'pod-frozen',
    );
    sent.push((await contact.sendText(phone, 'after the freeze')).id);
    const stored = await eventually('both messages in JetStream', async () => {
      const all = await storedInbound(suite.nc, clinic, 'dental');
      return all.length >= 2 && all;
    });
    expect(stored.map((m) => m.msgId).sort()).toEqual([...sent].sort());
    expect(await epochOf()).toBeGreaterThan(epochBefore); // taken back with a new epoch
    expect(watch.pairing.filter((p) => p.type === 'qr')).toHaveLength(qrsBefore); // no new QR: the same link
    expect(suite.sim.connections.maxConcurrent(device)).toBe(1);
    expect(worker.child.exitCode).toBeNull();
    watch.stop();
  });

  test('transient endings (500, 428, 503) reconnect with the same state, never two connections', async () => {
    const phone = '5511900000012';
    const { device, watch } = await pairChannel('pharmacy', 'pod-t', phone);
    for (const ending of ['bad-session', 'stream-end', 'unavailable'] as const) {
      const before = watch.status.length;
      expect(suite.sim.endSession(device, ending)).toBe(1);
      await watch.waitStatus(
        `Connected after ${ending}`,
        (s) => s.phase === 'Connected' && watch.status.indexOf(s) >= before,
      );
    }
    const reasons = watch.status.filter((s) => s.phase === 'Disconnected').map((s) => s.reason);
    expect(reasons).toEqual(expect.arrayContaining(['BadSession', 'ConnectionClosed', 'ServiceUnavailable']));
    expect(watch.pairing.filter((p) => p.at > watch.status[0]!.at && p.type === 'qr')).toHaveLength(1); // only the pairing QR
    expect(suite.sim.connections.overlaps(device)).toEqual([]);
    watch.stop();
  });

  test('logged out by the server: Error with the reason, state quarantined, no reconnect loop, QR only on request', async () => {
    const phone = '5511900000013';
    const { worker, device, watch } = await pairChannel('imaging', 'pod-l', phone);
    const qrsBefore = watch.pairing.length;
    expect(suite.sim.endSession(device, 'logged-out')).toBe(1);
    const error = await watch.waitStatus('Error after logout', (s) => s.phase === 'Error');
    expect(error.reason).toBe('LoggedOut');
    const attempts = suite.sim.connections.records(device).length;
    // No reconnect loop: the worker stays up, opens no connection, shows no QR.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(suite.sim.connections.records(device)).toHaveLength(attempts);
    expect(watch.pairing).toHaveLength(qrsBefore);
    expect(worker.child.exitCode).toBeNull();
    const quarantined = await suite.storage.store.list(`wa/${clinic}/imaging/quarantine/`);
    expect(quarantined.some((o) => o.key.endsWith('/REASON'))).toBe(true);
    // A new pairing happens only when asked for.
    const reply = await command(suite.nc, clinic, 'imaging', 'pair', { mode: 'qr' });
    expect(reply).toMatchObject({ ok: true });
    const qr = await watch.waitQr(qrsBefore);
    expect(qr.attempt).toBe(1);
    watch.stop();
  });
});
