import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { LABELS } from '../../../contract/index.ts';
import { startController, type Controller } from '../../../operator/src/controller/controller.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import { eventually } from '../../harness/eventually.ts';
import { adminKubectl } from '../../harness/kubectl.ts';
import { testStack } from '../../harness/stack.ts';
import { applyChannel, prepareNamespace, testConfig } from './fixtures.ts';

/**
 * K4 and the simulator settings (docs/security.md): the operator itself, on the real API
 * server, refuses a worker image outside the platform's repositories (for clusters without the
 * admission policy, and for channels admitted before it), and every channel's status shows
 * when the operator points workers at the protocol simulator. No kubelet runs: pods are read
 * as the API server keeps them.
 */
const stack = testStack();
const ns = `img-${Date.now().toString(36)}`;
const kubectl = adminKubectl();
const simulatorUrl = 'ws://127.0.0.1:9/ws/chat';
const kc = new KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
let nc: NatsConnection;
let controller: Controller;

type Cond = { type: string; status: string; reason: string; message: string };
const conditions = async (name: string) => {
  const wac = JSON.parse((await kubectl('get', 'wac', name, '-n', ns, '-o', 'json')).stdout);
  return (t: string) => (wac.status?.conditions as Cond[] | undefined)?.find((c) => c.type === t);
};
const podsOf = async (name: string): Promise<V1Pod[]> =>
  JSON.parse(
    (
      await kubectl(
        'get',
        'pods',
        '-n',
        ns,
        '-l',
        `${LABELS.managedBy}=whatsapp-operator,${LABELS.channel}=${name}`,
        '-o',
        'json',
      )
    ).stdout,
  ).items;
const imageNotAllowed = (name: string) =>
  eventually(`${name}: Ready=False ImageNotAllowed`, async () => {
    const cond = await conditions(name);
    return cond('Ready')?.reason === 'ImageNotAllowed' && cond;
  });
const setImage = (name: string, image: string | null) =>
  kubectl(
    'patch',
    'wac',
    name,
    '-n',
    ns,
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { worker: { image } } }),
  );

beforeAll(async () => {
  await prepareNamespace(kubectl, ns, ['pod-security.kubernetes.io/enforce=restricted']);
  nc = await connect({ servers: stack.nats.url });
  controller = await startController(
    await loadKubeConnection({ kubeconfig: stack.kube.kubeconfig }),
    testConfig({
      WA_WATCH_NAMESPACE: ns,
      NATS_URL: stack.nats.url,
      WA_RESYNC_SECONDS: '3600',
      // testConfig's worker image is registry.example/whatsapp-worker:test: that repository is the default.
      WA_WORKER_SIMULATOR_URL: simulatorUrl,
      WA_WORKER_SIMULATOR_TRUST_ROOT: '/etc/wa-sim/root.hex',
    }),
    nc,
    pino({ level: 'silent' }),
  );
}, 60_000);
afterAll(async () => {
  await controller?.stop();
  await nc?.close();
});

test('a foreign image gets no pod and Ready=False ImageNotAllowed naming the allowed repository', async () => {
  await applyChannel(kubectl, stack.workDir, ns, 'foreign', {
    clinicId: 'clinic-a',
    worker: { image: 'docker.io/mallory/whatsapp-worker:latest' },
  });
  const cond = await imageNotAllowed('foreign');
  expect(cond('Ready')!.status).toBe('False');
  expect(cond('Ready')!.message).toContain(
    'spec.worker.image "docker.io/mallory/whatsapp-worker:latest" is not from a repository this operator allows (registry.example/whatsapp-worker)',
  );
  expect(cond('Stalled')).toMatchObject({ status: 'True', reason: 'ImageNotAllowed' });
  // The status is written after the decision, so by now a pod would exist if one had been made.
  expect(await podsOf('foreign')).toEqual([]);
});

test('switching a running channel to a foreign image removes its pod; another tag of the allowed repository brings it back', async () => {
  await applyChannel(kubectl, stack.workDir, ns, 'switching', { clinicId: 'clinic-a' });
  await eventually('a pod for switching', async () => (await podsOf('switching')).length === 1);
  await setImage('switching', 'ghcr.io/elsewhere/whatsapp-worker:1');
  await imageNotAllowed('switching');
  await eventually('the pod is gone or going', async () =>
    (await podsOf('switching')).every((p) => p.metadata?.deletionTimestamp),
  );
  const digest = `sha256:${'b'.repeat(64)}`;
  await setImage('switching', `registry.example/whatsapp-worker:2@${digest}`);
  const pod = await eventually('a pod with the allowed image', async () =>
    (await podsOf('switching')).find(
      (p) => !p.metadata?.deletionTimestamp && p.spec!.containers[0]!.image?.endsWith(digest),
    ),
  );
  expect(pod.spec!.containers[0]!.image).toBe(`registry.example/whatsapp-worker:2@${digest}`);
  await eventually(
    'Ready no longer ImageNotAllowed',
    async () => (await conditions('switching'))('Ready')?.reason !== 'ImageNotAllowed',
  );
});

test('the simulator is an operator setting: the pod gets it and every status says TestEndpoint=True with the endpoint', async () => {
  await applyChannel(kubectl, stack.workDir, ns, 'simulated', { clinicId: 'clinic-a' });
  const pod = await eventually('a pod for simulated', async () => (await podsOf('simulated'))[0]);
  const env = Object.fromEntries(pod.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
  expect(env).toMatchObject({ WA_WS_URL: simulatorUrl, WA_TRUST_ROOT: '/etc/wa-sim/root.hex' });
  for (const name of ['simulated', 'foreign']) {
    const cond = await eventually(`${name}: TestEndpoint`, async () => {
      const c = await conditions(name);
      return c('TestEndpoint') && c;
    });
    expect(cond('TestEndpoint')).toMatchObject({ status: 'True', reason: 'ProtocolSimulator' });
    expect(cond('TestEndpoint')!.message).toContain(`the WhatsApp protocol simulator at ${simulatorUrl}`);
  }
});
