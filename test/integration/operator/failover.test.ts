import { adminKubectl } from '../../harness/kubectl.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { startController, type Controller } from '../../../operator/src/controller/controller.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { applyChannel, prepareNamespace, testConfig } from './fixtures.ts';

/**
 * The reconciler keeps what a reconcile must remember for the next one on the channel
 * (controller/progress.ts), not in memory: a new leader carries on. (The Logout deletion's
 * steps are checked the same way in deletion.test.ts.)
 */
const stack = testStack();
const kubectl = adminKubectl();
const kc = new KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
const ns = `fo-${Date.now().toString(36)}`;
let nc: NatsConnection;
let controller: Controller | undefined;

const start = async () =>
  startController(
    await loadKubeConnection({ kubeconfig: stack.kube.kubeconfig }),
    testConfig({ WA_WATCH_NAMESPACE: ns, NATS_URL: stack.nats.url, WA_RESYNC_SECONDS: '3600' }),
    nc,
    pino({ level: 'silent' }),
  );
const getJson = async (...args: string[]) =>
  JSON.parse((await kubectl('get', ...args, '-n', ns, '-o', 'json')).stdout);
const eventReasons = async () =>
  (await getJson('events', '--field-selector', 'involvedObject.name=front')).items.map(
    (e: { reason: string }) => e.reason,
  );

beforeAll(async () => {
  await prepareNamespace(kubectl, ns);
  nc = await connect({ servers: stack.nats.url });
});
afterAll(async () => {
  await controller?.stop();
  await nc?.close();
});

test('a pod replaced after a spec change is announced as replaced by the next leader, not as missing', async () => {
  controller = await start();
  await applyChannel(kubectl, stack.workDir, ns, 'front', { clinicId: 'clinic-fo' });
  const old = await eventually('the pod', async () => (await getJson('pods')).items[0]);
  // Held in Terminating (as a slow kubelet would) so that the leader changes mid-replacement.
  await kubectl(
    'patch',
    'pod',
    old.metadata.name,
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"metadata":{"finalizers":["test.example/hold"]}}',
  );
  await eventually(
    'the status to name the pod',
    async () => (await getJson('wac', 'front')).status?.workerPod,
  );
  await kubectl(
    'patch',
    'wac',
    'front',
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"spec":{"worker":{"logLevel":"debug"}}}',
  );
  await eventually('the replacement recorded and the old pod stopping', async () => {
    const wac = await getJson('wac', 'front');
    const pod = await getJson('pod', old.metadata.name);
    return (
      pod.metadata.deletionTimestamp && wac.metadata.annotations?.['progress.whatsapp.clinic.dev/replacing']
    );
  });

  await controller.stop();
  controller = await start();
  await kubectl(
    'patch',
    'pod',
    old.metadata.name,
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"metadata":{"finalizers":null}}',
  );
  const replaced = await eventually('the new pod', async () =>
    (await getJson('pods')).items.find(
      (p: { metadata: { uid: string } }) => p.metadata.uid !== old.metadata.uid,
    ),
  );
  expect(replaced.spec.containers[0].env).toContainEqual({ name: 'WA_LOG_LEVEL', value: 'debug' });
  const reasons = await eventually('the PodReplaced Event', async () => {
    const r = await eventReasons();
    return r.includes('PodReplaced') && r;
  });
  expect(reasons).not.toContain('PodRecreated');
  await eventually(
    'the replacement mark cleared',
    async () =>
      (await getJson('wac', 'front')).metadata.annotations?.['progress.whatsapp.clinic.dev/replacing'] ===
      undefined,
  );
});
