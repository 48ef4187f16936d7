import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { eventually } from '../../harness/eventually.ts';
import { ChannelWatch } from '../worker/worker-harness.ts';
import { startMode, type Mode, type ModeName } from './modes.ts';

/**
 * One reconciler, two runtimes (docs/operator.md): the same scenarios, with the same
 * expectations, through the cluster (API server, pods) and local mode (manifests folder,
 * processes). Identity, suspend, status and both deletion policies behave the same; only the
 * way a channel is applied and deleted differs (kubectl, or a file).
 */
quietLibsignal();
const PHONE = '15550008101';
const cond = (c: { status?: { conditions?: Array<{ type: string }> } } | undefined, type: string) =>
  c?.status?.conditions?.find((x) => x.type === type);

describe.each<ModeName>(['cluster', 'local'])('%s', (modeName) => {
  let mode: Mode;
  const clinic = `same-${modeName}-${Date.now().toString(36)}`;
  beforeAll(async () => {
    mode = await startMode(modeName, `same-${modeName}`);
  }, 90_000);
  afterAll(async () => mode?.stop());

  test('paired by QR; suspend stops the worker and shows Suspended; resume restores the session without a QR; Logout unlinks, stops the worker, then erases the state and lets go', async () => {
    const watch = await ChannelWatch.start(mode.nc, clinic, 'front');
    await mode.apply('front', { clinicId: clinic, deletionPolicy: 'Logout' });
    const device = await mode.sim.phone(PHONE).scanQr((await watch.waitQr()).qr!);
    const connected = await eventually('Connected', async () => {
      const c = await mode.channel('front');
      return c?.status?.phase === 'Connected' && c.status.account === device ? c : undefined;
    });
    // The worker's identity is `<name>_<uid of this incarnation>`; its reports drive the status.
    const worker = watch.status.find((s) => s.phase === 'Connected')!.worker;
    expect(worker).toMatch(/^wa-front_[0-9a-f-]{36}$/);
    expect(connected.status!.workerPod).toBe('wa-front');
    expect(connected.metadata.finalizers).toEqual(['whatsapp.clinic.dev/deletion-policy']);
    expect(cond(connected, 'Ready')).toMatchObject({ status: 'True', reason: 'Connected' });
    // Both runtimes point workers at the simulator, and both say so on every channel.
    expect(cond(connected, 'TestEndpoint')).toMatchObject({ status: 'True', reason: 'ProtocolSimulator' });
    const qrs = watch.pairing.filter((p) => p.type === 'qr').length;

    await mode.apply('front', { clinicId: clinic, deletionPolicy: 'Logout', suspend: true });
    const suspended = await eventually('Suspended, no worker', async () => {
      const c = await mode.channel('front');
      return c?.status?.phase === 'Suspended' && !(await mode.workerRuns('front')) ? c : undefined;
    });
    expect(cond(suspended, 'WorkerRunning')).toMatchObject({ status: 'False', reason: 'Suspended' });
    expect(cond(suspended, 'Reconciling')).toMatchObject({ status: 'False' });
    expect(suspended.status!.workerPod).toBeUndefined();

    await mode.apply('front', { clinicId: clinic, deletionPolicy: 'Logout' });
    const resumed = await watch.waitStatus(
      'Connected from a new worker',
      (s) => s.phase === 'Connected' && s.worker !== worker,
    );
    expect(resumed.worker).toMatch(/^wa-front_/);
    await eventually(
      'Connected in the status',
      async () => (await mode.channel('front'))?.status?.phase === 'Connected',
    );
    expect(watch.pairing.filter((p) => p.type === 'qr').length).toBe(qrs);

    expect(await mode.stateObjects(clinic, 'front')).toBeGreaterThan(0);
    await mode.remove('front');
    await eventually('the channel gone', async () => (await mode.channel('front')) === undefined, 90_000);
    expect(mode.sim.phone(PHONE).links()).toEqual([[device, true]]);
    expect(await mode.stateObjects(clinic, 'front')).toBe(0);
    expect(await mode.workerRuns('front')).toBe(false);
    expect(await mode.eventReasons('front')).toContain('LoggedOut');
    watch.stop();
  });

  test('Retain: the worker stops, the stored state stays, the channel goes', async () => {
    const watch = await ChannelWatch.start(mode.nc, clinic, 'kept');
    await mode.apply('kept', { clinicId: clinic });
    await watch.waitQr();
    const objects = await eventually(
      'state stored',
      async () => (await mode.stateObjects(clinic, 'kept')) || undefined,
    );
    await mode.remove('kept');
    await eventually('the channel gone', async () => (await mode.channel('kept')) === undefined, 90_000);
    expect(await mode.workerRuns('kept')).toBe(false);
    expect(await mode.stateObjects(clinic, 'kept')).toBeGreaterThanOrEqual(objects);
    expect(await mode.eventReasons('kept')).not.toContain('LoggedOut');
    watch.stop();
  });
});
