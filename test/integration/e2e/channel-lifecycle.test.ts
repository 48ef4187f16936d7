import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { applyChannel } from '../operator/fixtures.ts';
import { ChannelWatch } from '../worker/worker-harness.ts';
import { startProduct, type Product } from './product.ts';

/**
 * The whole product on real parts: a WhatsAppChannel applied with kubectl to the real API
 * server; the real operator turning it into a pod; that pod's worker container run as a
 * process (ProcessKubelet) with exactly the pod's environment, against real NATS, MinIO,
 * local-kms and the WhatsApp Web simulator with the unmodified Baileys inside the worker.
 */
quietLibsignal();
const stack = testStack();
const clinic = 'clinic-e2e';
const PHONE = '15550008001';
let p: Product;
const onlyPod = async () => {
  const pods = await p.pods();
  return pods.length === 1 ? pods[0]!.metadata : undefined;
};
const channel = () => p.channel('front-desk');
/** The phone's linked devices: [jid, unlinked?]. */
const linkedDevices = () => p.sim.phone(PHONE).links();

beforeAll(async () => {
  p = await startProduct('e2e');
}, 60_000);
afterAll(async () => p?.stop());

test('apply → pod → QR on NATS → scanned → Connected in the resource; node loss → restored without a QR; delete → logged out and erased', async () => {
  const watch = await ChannelWatch.start(p.nc, clinic, 'front-desk');
  await applyChannel(p.kubectl, stack.workDir, p.ns, 'front-desk', {
    clinicId: clinic,
    deletionPolicy: 'Logout',
  });

  // The operator made exactly one pod; its worker asks for a QR, which the phone scans.
  const first = await eventually('the worker pod', onlyPod);
  const qr = await watch.waitQr();
  const device = await p.sim.phone(PHONE).scanQr(qr.qr!);
  const connected = await eventually(
    'Connected in the resource',
    async () => {
      const c = await channel();
      return c.status?.phase === 'Connected' && c.status.account ? c : undefined;
    },
    60_000,
  );
  expect(connected.status!.account).toBe(device);
  expect(connected.status!.workerPod).toBe(first.name);
  expect(connected.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
  expect(connected.status!.conditions!.find((c) => c.type === 'Paired')).toMatchObject({ status: 'True' });
  // The operator is configured for the simulator: the resource says so, with the endpoint.
  expect(connected.status!.conditions!.find((c) => c.type === 'TestEndpoint')).toMatchObject({
    status: 'True',
    reason: 'ProtocolSimulator',
    message: expect.stringContaining(`the WhatsApp protocol simulator at ${p.sim.url}`),
  });
  const qrCodes = () => watch.pairing.filter((p) => p.type === 'qr').length;
  const qrsBeforeNodeLoss = qrCodes();

  // The node dies: the worker is killed, the pod is gone. The operator makes a new pod, whose
  // worker waits for the dead one's lease, then restores the session from S3: no second QR.
  p.kubelet.killNode(first.uid);
  await p.kubectl('delete', 'pod', first.name, '-n', p.ns, '--wait=false');
  const second = await eventually('a new pod', async () => {
    const p = await onlyPod();
    return p && p.uid !== first.uid ? p : undefined;
  });
  await eventually(
    'Connected again, from the new pod',
    async () => {
      const c = await channel();
      return (
        c.status?.phase === 'Connected' && c.status.workerPod === second.name && c.status.account === device
      );
    },
    60_000,
  );
  expect(qrCodes()).toBe(qrsBeforeNodeLoss);
  expect(watch.phases(`${second.name}_${second.uid}`)).not.toContain('QRRequired');
  expect(p.sim.connections.maxConcurrent(device)).toBe(1);
  // One linked device all along: the restored session is the same device, not a new link.
  expect(linkedDevices()).toEqual([[device, false]]);

  // Deleted with the Logout policy: the device is unlinked on the phone, the state erased.
  expect((await p.storage.store.list(`wa/${clinic}/front-desk/`)).length).toBeGreaterThan(0);
  await p.kubectl('delete', 'wac', 'front-desk', '-n', p.ns, '--wait=false');
  await eventually(
    'the channel gone',
    async () => {
      const left = JSON.parse((await p.kubectl('get', 'wac', '-n', p.ns, '-o', 'json')).stdout).items;
      return left.length === 0;
    },
    60_000,
  );
  expect(linkedDevices()).toEqual([[device, true]]);
  expect(await p.storage.store.list(`wa/${clinic}/front-desk/`)).toEqual([]);
  await eventually('no pod left', async () => (await onlyPod()) === undefined);
  expect(p.sim.connections.maxConcurrent(device)).toBe(1);
});
