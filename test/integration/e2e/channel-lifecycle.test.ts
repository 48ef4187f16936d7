import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { startController, type Controller } from '../../../operator/src/controller/controller.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { startSimulator, type Simulator } from '../../wa-sim/simulator.ts';
import { quietLibsignal } from '../../wa-sim/testing/baileys-client.ts';
import { realStorage } from '../auth-store/fixtures.ts';
import { applyChannel, prepareNamespace, testConfig } from '../operator/fixtures.ts';
import { ChannelWatch, trustRootFile } from '../worker/worker-harness.ts';
import { ProcessKubelet } from './process-kubelet.ts';

/**
 * The whole product on real parts: a WhatsAppChannel applied with kubectl to the real API
 * server; the real operator turning it into a pod; that pod's worker container run as a
 * process (ProcessKubelet) with exactly the pod's environment, against real NATS, MinIO,
 * local-kms and the WhatsApp Web simulator with the unmodified Baileys inside the worker.
 */
quietLibsignal();
const run = promisify(execFile);
const stack = testStack();
const kubectl = (...args: string[]) =>
  run(stack.bins.kubectl, ['--kubeconfig', stack.kube.kubeconfig, ...args]);
const kc = new KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
// The operator's own S3 access, for erasing a channel's state (in a cluster: its IRSA role).
process.env.AWS_ACCESS_KEY_ID = stack.s3.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = stack.s3.secretAccessKey;

const ns = `e2e-${Date.now().toString(36)}`;
const clinic = 'clinic-e2e';
const PHONE = '15550008001';
let sim: Simulator;
let nc: NatsConnection;
let controller: Controller;
let kubelet: ProcessKubelet;
let storage: Awaited<ReturnType<typeof realStorage>>;

const channel = async (): Promise<WhatsAppChannel> =>
  JSON.parse((await kubectl('get', 'wac', 'front-desk', '-n', ns, '-o', 'json')).stdout) as WhatsAppChannel;
const onlyPod = async () => {
  const pods = JSON.parse((await kubectl('get', 'pods', '-n', ns, '-o', 'json')).stdout).items as {
    metadata: { name: string; uid: string };
  }[];
  return pods.length === 1 ? pods[0]!.metadata : undefined;
};

beforeAll(async () => {
  sim = await startSimulator();
  storage = await realStorage('e2e');
  nc = await connect({ servers: stack.nats.url });
  await prepareNamespace(kubectl, ns, ['pod-security.kubernetes.io/enforce=restricted']);
  // What a platform engineer puts in the clinic's namespace for the workers: cloud credentials.
  await kubectl(
    'create',
    'secret',
    'generic',
    'wa-aws',
    '-n',
    ns,
    `--from-literal=AWS_ACCESS_KEY_ID=${stack.s3.accessKeyId}`,
    `--from-literal=AWS_SECRET_ACCESS_KEY=${stack.s3.secretAccessKey}`,
  );
  controller = await startController(
    kc,
    testConfig({
      WA_WATCH_NAMESPACE: ns,
      NATS_URL: stack.nats.url,
      WA_S3_BUCKET: storage.bucket,
      WA_S3_ENDPOINT: stack.s3.endpoint,
      WA_S3_REGION: stack.s3.region,
      WA_KMS_KEY_ID: storage.keyId,
      WA_KMS_ENDPOINT: stack.kms.endpoint,
      WA_WORKER_SERVICE_ACCOUNT: 'whatsapp-worker',
      WA_WORKER_ENV_SECRET: 'wa-aws',
      WA_WORKER_EXTRA_ENV: JSON.stringify({ WA_WS_URL: sim.url, WA_TRUST_ROOT: trustRootFile(sim, 'e2e') }),
    }),
    Promise.resolve(nc),
    pino({ level: 'silent' }),
  );
  kubelet = new ProcessKubelet(kubectl, ns);
  kubelet.start();
}, 60_000);

afterAll(async () => {
  await kubelet?.stop();
  await controller?.stop();
  await nc?.close();
  await sim?.stop();
});

test('apply → pod → QR on NATS → scanned → Connected in the resource; node loss → restored without a QR; delete → logged out and erased', async () => {
  const watch = await ChannelWatch.start(nc, clinic, 'front-desk');
  await applyChannel(kubectl, stack.workDir, ns, 'front-desk', {
    clinicId: clinic,
    deletionPolicy: 'Logout',
  });

  // The operator made exactly one pod; its worker asks for a QR, which the phone scans.
  const first = await eventually('the worker pod', onlyPod);
  const qr = await watch.waitQr();
  const device = await sim.phone(PHONE).scanQr(qr.qr!);
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
  const qrCodes = () => watch.pairing.filter((p) => p.type === 'qr').length;
  const qrsBeforeNodeLoss = qrCodes();

  // The node dies: the worker is killed, the pod is gone. The operator makes a new pod, whose
  // worker waits for the dead one's lease, then restores the session from S3: no second QR.
  kubelet.killNode(first.uid);
  await kubectl('delete', 'pod', first.name, '-n', ns, '--wait=false');
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
  expect(sim.connections.maxConcurrent(device)).toBe(1);
  // One linked device all along: the restored session is the same device, not a new link.
  expect(
    sim
      .phone(PHONE)
      .devices()
      .map((d) => [d.jid, d.removed]),
  ).toEqual([[device, false]]);

  // Deleted with the Logout policy: the device is unlinked on the phone, the state erased.
  expect((await storage.store.list(`wa/${clinic}/front-desk/`)).length).toBeGreaterThan(0);
  await kubectl('delete', 'wac', 'front-desk', '-n', ns, '--wait=false');
  await eventually(
    'the channel gone',
    async () => {
      const left = JSON.parse((await kubectl('get', 'wac', '-n', ns, '-o', 'json')).stdout).items;
      return left.length === 0;
    },
    60_000,
  );
  expect(
    sim
      .phone(PHONE)
      .devices()
      .map((d) => [d.jid, d.removed]),
  ).toEqual([[device, true]]);
  expect(await storage.store.list(`wa/${clinic}/front-desk/`)).toEqual([]);
  await eventually('no pod left', async () => (await onlyPod()) === undefined);
  expect(sim.connections.maxConcurrent(device)).toBe(1);
});
