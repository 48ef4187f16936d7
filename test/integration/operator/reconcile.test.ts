import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { API_VERSION, FINALIZER, KIND, LABELS, channelSubjects } from '../../../contract/index.ts';
import { parseOperatorConfig } from '../../../operator/src/config.ts';
import { startController, type Controller } from '../../../operator/src/controller.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { prepareNamespace } from './fixtures.ts';

/**
 * The operator's controller against the real kube-apiserver (+ etcd + controller
 * manager) and real NATS. No kubelet runs, so the test plays the worker: it publishes
 * the status events a worker would, as the worker's pod.
 */
const run = promisify(execFile);
const stack = testStack();
const ns = `op-${Date.now().toString(36)}`;
const kubectl = (...args: string[]) =>
  run(stack.bins.kubectl, ['--kubeconfig', stack.kube.kubeconfig, ...args]);
const kc = new KubeConfig();
kc.loadFromFile(stack.kube.kubeconfig);
let nc: NatsConnection;
let controller: Controller;

async function applyJson(obj: object): Promise<void> {
  const file = join(stack.workDir, `${ns}-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(obj));
  await kubectl('apply', '-f', file);
}
const getJson = async (...args: string[]) =>
  JSON.parse((await kubectl('get', ...args, '-n', ns, '-o', 'json')).stdout);
const channel = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: API_VERSION,
  kind: KIND,
  metadata: { name, namespace: ns },
  spec,
});
const workerPods = async () =>
  (await getJson('pods', '-l', `${LABELS.managedBy}=whatsapp-operator`)).items as V1Pod[];

beforeAll(async () => {
  // A clinic namespace as the examples make it: PodSecurity "restricted" enforced.
  await prepareNamespace(kubectl, ns, ['pod-security.kubernetes.io/enforce=restricted']);
  nc = await connect({ servers: stack.nats.url });
  const parsed = parseOperatorConfig({
    WA_WATCH_NAMESPACE: ns,
    NATS_URL: stack.nats.url,
    WA_WORKER_IMAGE: 'registry.example/whatsapp-worker:test',
    WA_S3_BUCKET: 'wa-state',
    WA_S3_ENDPOINT: stack.s3.endpoint,
    WA_KMS_KEY_ID: 'alias/wa',
    WA_RESYNC_SECONDS: '3600',
  });
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  controller = await startController(kc, parsed.config, nc, pino({ level: 'silent' }));
});
afterAll(async () => {
  controller?.stop();
  await nc?.close();
});

describe('operator on a real API server', () => {
  test('a channel gets a finalizer and exactly one worker pod with the expected spec', async () => {
    await applyJson(
      channel('front-desk', { clinicId: 'clinic-a', channelId: 'front-desk', phoneNumber: '+5511987654321' }),
    );
    const pod = await eventually('the worker pod', async () =>
      (await workerPods()).find((p) => p.metadata?.name === 'wa-front-desk'),
    );
    expect(await workerPods()).toHaveLength(1);
    expect(pod.metadata!.labels).toMatchObject({
      [LABELS.clinic]: 'clinic-a',
      [LABELS.channel]: 'front-desk',
    });
    expect(pod.metadata!.ownerReferences![0]).toMatchObject({
      kind: KIND,
      name: 'front-desk',
      controller: true,
    });
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
    const c = pod.spec!.containers[0]!;
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      WA_CLINIC_ID: 'clinic-a',
      WA_CHANNEL_ID: 'front-desk',
      WA_PHONE_NUMBER: '+5511987654321',
      NATS_URL: stack.nats.url,
      WA_S3_BUCKET: 'wa-state',
      WA_KMS_KEY_ID: 'alias/wa',
      WA_LEASE_HOLDER: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    const wac = await getJson('wac', 'front-desk');
    expect(wac.metadata.finalizers).toContain(FINALIZER);
    await eventually(
      'status Pending',
      async () => (await getJson('wac', 'front-desk')).status?.phase === 'Pending',
    );
  });

  test('a deleted pod comes back', async () => {
    const before = (await workerPods())[0]!.metadata!.uid;
    await kubectl('delete', 'pod', 'wa-front-desk', '-n', ns, '--wait=false');
    await eventually('a new pod', async () =>
      (await workerPods()).find((p) => p.metadata?.uid !== before && !p.metadata?.deletionTimestamp),
    );
    expect((await workerPods()).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(1);
  });

  test("status follows the worker's reports, with conditions and observedGeneration", async () => {
    const pod = (await workerPods())[0]!.metadata!.name!;
    const report = (phase: string, seq: number, extra: object = {}) =>
      nc.publish(
        channelSubjects('clinic-a', 'front-desk').status,
        JSON.stringify({
          v: 1,
          clinicId: 'clinic-a',
          channelId: 'front-desk',
          worker: pod,
          phase,
          reconnects: 0,
          degraded: false,
          at: new Date().toISOString(),
          seq,
          ...extra,
        }),
      );
    report('QRRequired', 1);
    const qr = await eventually('QRRequired', async () => {
      const s = (await getJson('wac', 'front-desk')).status;
      return s?.phase === 'QRRequired' && s;
    });
    expect(qr.conditions.find((c: { type: string }) => c.type === 'Paired')).toMatchObject({
      status: 'False',
      reason: 'AwaitingPairing',
    });
    report('Connected', 2, {
      account: '5511987654321:1@s.whatsapp.net',
      lastConnectedAt: new Date().toISOString(),
    });
    const wac = await eventually('Connected', async () => {
      const w = await getJson('wac', 'front-desk');
      return w.status?.phase === 'Connected' && w;
    });
    const cond = (t: string) => wac.status.conditions.find((c: { type: string }) => c.type === t);
    expect(cond('Ready')).toMatchObject({
      status: 'True',
      reason: 'Connected',
      observedGeneration: wac.metadata.generation,
    });
    expect(cond('Paired')).toMatchObject({ status: 'True' });
    expect(cond('Stalled')).toMatchObject({ status: 'False' });
    expect(cond('Reconciling')).toMatchObject({ status: 'False' });
    expect(wac.status).toMatchObject({
      account: '5511987654321:1@s.whatsapp.net',
      workerPod: pod,
      observedGeneration: wac.metadata.generation,
    });
    const { stdout } = await kubectl('get', 'wac', 'front-desk', '-n', ns);
    expect(stdout.split('\n')[1]).toMatch(
      /front-desk\s+clinic-a\s+front-desk\s+Connected\s+True\s+5511987654321:1@s\.whatsapp\.net/,
    );
    // Each phase transition is a Kubernetes Event on the channel.
    const events = await eventually('the Events', async () => {
      const list = (await getJson('events', '--field-selector', 'involvedObject.name=front-desk'))
        .items as Array<{ reason: string }>;
      return list.some((e) => e.reason === 'Connected') && list;
    });
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['Pending', 'QRRequired', 'Connected']),
    );
    // A report from another (old) pod does not change the status.
    nc.publish(
      channelSubjects('clinic-a', 'front-desk').status,
      JSON.stringify({
        v: 1,
        clinicId: 'clinic-a',
        channelId: 'front-desk',
        worker: 'old-pod',
        phase: 'Error',
        reason: 'LoggedOut',
        reconnects: 0,
        degraded: false,
        at: new Date().toISOString(),
        seq: 9,
      }),
    );
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await getJson('wac', 'front-desk')).status.phase).toBe('Connected');
  });

  test('a steady state makes no API writes', async () => {
    const count = () => [...controller.writes.values()].reduce((a, b) => a + b, 0);
    await new Promise((r) => setTimeout(r, 1_000));
    const before = count();
    await controller.channels.restart('test: simulated dead watch'); // relist replays every object
    await controller.pods.restart('test: simulated dead watch');
    await new Promise((r) => setTimeout(r, 3_000));
    expect(count()).toBe(before);
  });

  test('a spec change replaces the pod, never running two at once', async () => {
    const seen: string[] = [];
    let maxLive = 0;
    const live = new Set<string>();
    const watch = await new Watch(kc).watch(
      `/api/v1/namespaces/${ns}/pods`,
      {},
      (type, pod: V1Pod) => {
        const name = `${pod.metadata!.name}/${pod.metadata!.uid}`;
        if (type === 'DELETED') live.delete(name);
        else live.add(name);
        seen.push(`${type} ${name}`);
        maxLive = Math.max(maxLive, live.size);
      },
      () => undefined,
    );
    await new Promise((r) => setTimeout(r, 500));
    const oldUid = (await workerPods())[0]!.metadata!.uid;
    await kubectl(
      'patch',
      'wac',
      'front-desk',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"spec":{"worker":{"logLevel":"debug"}}}',
    );
    const replaced = await eventually('the replacement pod', async () =>
      (await workerPods()).find((p) => p.metadata?.uid !== oldUid),
    );
    const env = Object.fromEntries(replaced.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(env.WA_LOG_LEVEL).toBe('debug');
    watch.abort();
    expect(maxLive).toBe(1);
    const wac = await getJson('wac', 'front-desk');
    await eventually(
      'observedGeneration to follow',
      async () => (await getJson('wac', 'front-desk')).status.observedGeneration === wac.metadata.generation,
    );
  });

  test('suspend removes the pod and reports Suspended; resume brings it back', async () => {
    await kubectl('patch', 'wac', 'front-desk', '-n', ns, '--type=merge', '-p', '{"spec":{"suspend":true}}');
    await eventually('no pod', async () => (await workerPods()).length === 0);
    const s = await eventually('Suspended', async () => {
      const st = (await getJson('wac', 'front-desk')).status;
      return st?.phase === 'Suspended' && st;
    });
    expect(s.conditions.find((c: { type: string }) => c.type === 'WorkerRunning')).toMatchObject({
      status: 'False',
      reason: 'Suspended',
    });
    await kubectl('patch', 'wac', 'front-desk', '-n', ns, '--type=merge', '-p', '{"spec":{"suspend":false}}');
    await eventually('the pod again', async () => (await workerPods()).length === 1);
  });

  test('a crash-looping worker shows up in the conditions with the reason', async () => {
    const pod = await eventually('the pod', async () =>
      (await workerPods()).find((p) => !p.metadata?.deletionTimestamp),
    );
    // Play the kubelet: the container keeps crashing.
    const status = {
      status: {
        phase: 'Running',
        containerStatuses: [
          {
            name: 'worker',
            image: 'registry.example/whatsapp-worker:test',
            imageID: '',
            ready: false,
            restartCount: 6,
            state: {
              waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s restarting failed container' },
            },
          },
        ],
      },
    };
    await kubectl(
      'patch',
      'pod',
      pod.metadata!.name!,
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    );
    const s = await eventually('WorkerRunning=False/CrashLoopBackOff', async () => {
      const st = (await getJson('wac', 'front-desk')).status;
      const wr = st?.conditions?.find((c: { type: string }) => c.type === 'WorkerRunning');
      return wr?.reason === 'CrashLoopBackOff' && st;
    });
    expect(s.conditions.find((c: { type: string }) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'CrashLoopBackOff',
    });
  });

  test('deleting a channel with the Retain policy releases the finalizer and its pod goes', async () => {
    await kubectl('delete', 'wac', 'front-desk', '-n', ns, '--timeout=60s');
    await eventually('the channel gone', async () => (await getJson('wac')).items.length === 0);
    await eventually(
      'its pod garbage-collected',
      async () => (await workerPods()).filter((p) => !p.metadata?.deletionTimestamp).length === 0,
    );
  });
});
