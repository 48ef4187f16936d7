import { adminKubectl } from '../../harness/kubectl.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { FINALIZER, LABELS } from '../../../contract/index.ts';
import { startController, type Controller } from '../../../operator/src/controller/controller.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import { eventually } from '../../harness/eventually.ts';
import { watchCollection } from '../../harness/kube-watch.ts';
import { testStack } from '../../harness/stack.ts';
import {
  applyChannel,
  prepareNamespace,
  publishStatus,
  RUNNING,
  setPodStatus,
  testConfig,
} from './fixtures.ts';

/**
 * The operator's controller against the real kube-apiserver (+ etcd + controller
 * manager) and real NATS. No kubelet runs, so the test plays it (pod status through the
 * status subresource) and plays the worker (status events on NATS, as the pod's worker).
 */
const stack = testStack();
const ns = `op-${Date.now().toString(36)}`;
const kubectl = adminKubectl();
let nc: NatsConnection;
let controller: Controller;

const getJson = async (...args: string[]) =>
  JSON.parse((await kubectl('get', ...args, '-n', ns, '-o', 'json')).stdout);
const workerPods = async (): Promise<V1Pod[]> =>
  (await getJson('pods', '-l', `${LABELS.managedBy}=whatsapp-operator`)).items;
const livePod = (name: string) =>
  eventually(`a live pod wa-${name}`, async () =>
    (await workerPods()).find((p) => p.metadata?.name === `wa-${name}` && !p.metadata?.deletionTimestamp),
  );
type Cond = { type: string; status: string; reason: string; message: string; observedGeneration: number };
const conditionsOf = async (name: string) => {
  const wac = await getJson('wac', name);
  return {
    wac,
    cond: (t: string) => (wac.status?.conditions as Cond[] | undefined)?.find((c) => c.type === t),
  };
};
const totalOf = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

beforeAll(async () => {
  // A clinic namespace as the examples make it: PodSecurity "restricted" enforced.
  await prepareNamespace(kubectl, ns, ['pod-security.kubernetes.io/enforce=restricted']);
  nc = await connect({ servers: stack.nats.url });
  controller = await startController(
    await loadKubeConnection({ kubeconfig: stack.kube.kubeconfig }),
    testConfig({
      WA_WATCH_NAMESPACE: ns,
      NATS_URL: stack.nats.url,
      WA_S3_ENDPOINT: stack.s3.endpoint,
      WA_RESYNC_SECONDS: '3600',
    }),
    nc,
    pino({ level: 'silent' }),
  );
});
afterAll(async () => {
  await controller?.stop();
  await nc?.close();
});

describe('operator on a real API server', () => {
  test('a channel gets a finalizer and exactly one worker pod with the expected spec', async () => {
    await applyChannel(kubectl, stack.workDir, ns, 'front-desk', {
      clinicId: 'clinic-a',
      phoneNumber: '+5511987654321',
    });
    const pod = await livePod('front-desk');
    expect(await workerPods()).toHaveLength(1);
    expect(pod.metadata!.labels).toMatchObject({
      [LABELS.clinic]: 'clinic-a',
      [LABELS.channel]: 'front-desk',
    });
    const wac = await getJson('wac', 'front-desk');
    expect(pod.metadata!.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'WhatsAppChannel',
        name: 'front-desk',
        uid: wac.metadata.uid,
        controller: true,
      }),
    ]);
    expect(wac.metadata.finalizers).toContain(FINALIZER);
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
    const c = pod.spec!.containers[0]!;
    expect(c.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.resources).toEqual({ requests: { cpu: '50m', memory: '192Mi' }, limits: { memory: '384Mi' } });
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      WA_CLINIC_ID: 'clinic-a',
      WA_CHANNEL_ID: 'front-desk',
      WA_PHONE_NUMBER: '+5511987654321',
      WA_PAIRING: 'qr',
      NATS_URL: stack.nats.url,
      WA_S3_BUCKET: 'wa-state',
      WA_S3_ENDPOINT: stack.s3.endpoint,
      WA_KMS_KEY_ID: 'alias/wa',
      WA_LEASE_HOLDER: '$(WA_POD_NAME)_$(WA_POD_UID)',
      WA_POD_UID: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.uid' } },
    });
    const s = await eventually('status Pending', async () => {
      const { wac: w, cond } = await conditionsOf('front-desk');
      return w.status?.phase === 'Pending' && cond('WorkerRunning');
    });
    expect(s).toMatchObject({ status: 'False', reason: 'PodPending' });
  });

  test('a deleted pod comes back (exactly one)', async () => {
    const before = (await livePod('front-desk')).metadata!.uid;
    await kubectl('delete', 'pod', 'wa-front-desk', '-n', ns, '--wait=false');
    await eventually('a new pod', async () => (await livePod('front-desk')).metadata!.uid !== before);
    expect(await workerPods()).toHaveLength(1);
  });

  test("status follows the worker's reports, with conditions, observedGeneration and Events", async () => {
    const pod = await livePod('front-desk');
    await setPodStatus(kubectl, pod, RUNNING);
    publishStatus(nc, pod, 'QRRequired', 1);
    await eventually(
      'QRRequired',
      async () => (await getJson('wac', 'front-desk')).status?.phase === 'QRRequired',
    );
    let { cond } = await conditionsOf('front-desk');
    expect(cond('Paired')).toMatchObject({ status: 'False', reason: 'AwaitingQRScan' });
    expect(cond('Reconciling')).toMatchObject({ status: 'False' });

    const connectedAt = new Date().toISOString();
    publishStatus(nc, pod, 'Connected', 2, {
      account: '5511987654321:1@s.whatsapp.net',
      lastConnectedAt: connectedAt,
      reconnects: 3,
    });
    const { wac, cond: c2 } = await eventually('Connected', async () => {
      const got = await conditionsOf('front-desk');
      return got.wac.status?.phase === 'Connected' && got;
    });
    cond = c2;
    for (const [type, status, reason] of [
      ['Ready', 'True', 'Connected'],
      ['Paired', 'True', 'Linked'],
      ['WorkerRunning', 'True', 'PodRunning'],
      ['Reconciling', 'False', 'Settled'],
      ['Stalled', 'False', 'NotStalled'],
    ])
      expect(cond(type!)).toMatchObject({ status, reason, observedGeneration: wac.metadata.generation });
    expect(wac.status).toMatchObject({
      account: '5511987654321:1@s.whatsapp.net',
      workerPod: 'wa-front-desk',
      lastConnectedTime: connectedAt,
      reconnectCount: 3,
      observedGeneration: wac.metadata.generation,
    });
    const { stdout } = await kubectl('get', 'wac', 'front-desk', '-n', ns);
    expect(stdout.split('\n')[0]).toMatch(/^NAME\s+CLINIC\s+CHANNEL\s+PHASE\s+READY\s+ACCOUNT\s+AGE/);
    expect(stdout.split('\n')[1]).toMatch(
      /^front-desk\s+clinic-a\s+front-desk\s+Connected\s+True\s+5511987654321:1@s\.whatsapp\.net\s+\d+s/,
    );
    // Each phase transition is a Kubernetes Event on the channel, but for the new channel's first
    // Pending: that Event only repeated the creation (docs/operator.md, "Measured").
    const reasons = await eventually('the Events', async () => {
      const list = (await getJson('events', '--field-selector', 'involvedObject.name=front-desk'))
        .items as Array<{
        reason: string;
      }>;
      const r = list.map((e) => e.reason);
      return r.includes('Connected') && r;
    });
    expect(reasons).toEqual(expect.arrayContaining(['QRRequired', 'Connected', 'PodRecreated']));
    expect(reasons).not.toContain('Pending');

    // A late report from an earlier incarnation of the pod (same name, other uid) changes nothing.
    publishStatus(nc, { ...pod, metadata: { ...pod.metadata, uid: 'an-earlier-pod' } }, 'Error', 99, {
      reason: 'LoggedOut',
    });
    // … while a later report of the current pod does: so the earlier one was seen and ignored.
    publishStatus(nc, pod, 'Disconnected', 3, { reason: 'ConnectionLost' });
    const ready = await eventually('Disconnected', async () => {
      const got = await conditionsOf('front-desk');
      return got.wac.status?.phase === 'Disconnected' && got.cond('Ready');
    });
    expect(ready).toMatchObject({ status: 'False', reason: 'ConnectionLost' });
    publishStatus(nc, pod, 'Connected', 4, { account: '5511987654321:1@s.whatsapp.net' });
    await eventually(
      'Connected again',
      async () => (await getJson('wac', 'front-desk')).status?.phase === 'Connected',
    );
  });

  test("the operator's own status write comes back through the watch and is not reconciled again (no loop)", async () => {
    const pod = await livePod('front-desk');
    await eventually(
      'the queue to drain',
      async () => controller.queue.depth === 0 && controller.queue.inFlight === 0,
    );
    const statusWrites = controller.writes.get('status') ?? 0;
    const dropped = controller.ownStatusWrites();
    publishStatus(nc, pod, 'Connected', 5, { account: '5511987654321:1@s.whatsapp.net', reconnects: 7 });
    await eventually(
      'the status to show it',
      async () => (await getJson('wac', 'front-desk')).status?.reconnectCount === 7,
    );
    // The watch event of that write arrived and was dropped by the predicate …
    await eventually('the own write seen and dropped', async () => controller.ownStatusWrites() > dropped);
    await eventually(
      'the queue to drain',
      async () => controller.queue.depth === 0 && controller.queue.inFlight === 0,
    );
    // … so the report made exactly one status write, and nothing followed it.
    expect((controller.writes.get('status') ?? 0) - statusWrites).toBe(1);
  });

  test('a steady state makes no API requests at all, even when every channel is reconciled again', async () => {
    await eventually(
      'the queue to drain',
      async () => controller.queue.depth === 0 && controller.queue.inFlight === 0,
    );
    const writes = totalOf(controller.writes);
    const requests = totalOf(controller.requests);
    for (const c of controller.channels.values())
      controller.queue.add(`${c.metadata.namespace}/${c.metadata.name}`);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(totalOf(controller.writes)).toBe(writes);
    expect(totalOf(controller.requests)).toBe(requests);
  });

  test('a spec change replaces the pod, never running two at once (checked by watching pods)', async () => {
    let live = 0;
    let maxLive = 0;
    const names = new Set<string>();
    // Every pod event, however long the replacement takes (test/harness/kube-watch.ts).
    const watch = await watchCollection<V1Pod>(
      stack.kube.kubeconfig,
      `/api/v1/namespaces/${ns}/pods`,
      (pod, deleted) => {
        const id = pod.metadata!.uid!;
        if (deleted) names.delete(id);
        else names.add(id);
        live = names.size;
        maxLive = Math.max(maxLive, live);
      },
      `${LABELS.channel}=front-desk`,
    );
    await eventually('the watch to see the pod', async () => live === 1);
    const old = await livePod('front-desk');
    await setPodStatus(kubectl, old, RUNNING);
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
    const replaced = await eventually('the replacement pod', async () => {
      const p = await livePod('front-desk');
      return p.metadata!.uid !== old.metadata!.uid && p;
    });
    const env = Object.fromEntries(replaced.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(env.WA_LOG_LEVEL).toBe('debug');
    await eventually('the watch to see it', async () => names.has(replaced.metadata!.uid!));
    watch.stop();
    expect(maxLive).toBe(1);
    const wac = await getJson('wac', 'front-desk');
    await eventually(
      'observedGeneration to follow',
      async () => (await getJson('wac', 'front-desk')).status.observedGeneration === wac.metadata.generation,
    );
  });

  test("a channel's WhatsApp Web version is part of the pod: setting it replaces the pod, which gets WA_WEB_VERSION", async () => {
    const old = await livePod('front-desk');
    await setPodStatus(kubectl, old, RUNNING);
    const envOf = (pod: V1Pod) =>
      Object.fromEntries(pod.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(envOf(old).WA_WEB_VERSION).toBeUndefined();
    await kubectl(
      'patch',
      'wac',
      'front-desk',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"spec":{"worker":{"waWebVersion":"2.3000.2022"}}}',
    );
    const replaced = await eventually('the replacement pod', async () => {
      const p = await livePod('front-desk');
      return p.metadata!.uid !== old.metadata!.uid && p;
    });
    expect(envOf(replaced).WA_WEB_VERSION).toBe('2.3000.2022');
    expect((await workerPods()).filter((p) => p.metadata?.name === 'wa-front-desk')).toHaveLength(1);
  });

  test('suspend removes the pod and reports Suspended; resume brings it back', async () => {
    await kubectl('patch', 'wac', 'front-desk', '-n', ns, '--type=merge', '-p', '{"spec":{"suspend":true}}');
    await eventually('no pod', async () => (await workerPods()).length === 0);
    const { wac, cond } = await eventually('Suspended', async () => {
      const got = await conditionsOf('front-desk');
      return got.wac.status?.phase === 'Suspended' && got;
    });
    expect(cond('WorkerRunning')).toMatchObject({ status: 'False', reason: 'Suspended' });
    expect(cond('Reconciling')).toMatchObject({ status: 'False' });
    expect(wac.status.workerPod).toBeUndefined();
    await kubectl('patch', 'wac', 'front-desk', '-n', ns, '--type=merge', '-p', '{"spec":{"suspend":false}}');
    await livePod('front-desk');
    expect(await workerPods()).toHaveLength(1);
  });

  test('a crash-looping worker shows up in the conditions with the reason', async () => {
    const pod = await livePod('front-desk');
    await setPodStatus(kubectl, pod, {
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
          lastState: { terminated: { exitCode: 1, reason: 'Error' } },
        },
      ],
    });
    const { wac, cond } = await eventually('WorkerRunning=False/CrashLoopBackOff', async () => {
      const got = await conditionsOf('front-desk');
      return got.cond('WorkerRunning')?.reason === 'CrashLoopBackOff' && got;
    });
    expect(wac.status.phase).toBe('Error');
    expect(cond('Stalled')).toMatchObject({ status: 'True', reason: 'CrashLoopBackOff' });
    expect(cond('Ready')).toMatchObject({ status: 'False', reason: 'CrashLoopBackOff' });
    expect(cond('WorkerRunning')!.message).toBe(
      'back-off 5m0s restarting failed container (last exit: Error)',
    );
  });

  test('an evicted pod is replaced', async () => {
    const pod = await livePod('front-desk');
    await setPodStatus(kubectl, pod, {
      phase: 'Failed',
      reason: 'Evicted',
      message: 'the node was low on memory',
    });
    await eventually(
      'a new pod',
      async () => (await livePod('front-desk')).metadata!.uid !== pod.metadata!.uid,
    );
    expect(await workerPods()).toHaveLength(1);
  });

  test('a pod the API server refuses shows in the status with its message; fixing the spec creates it', async () => {
    // LimitRanger admission refuses containers above the namespace's maximum.
    const limits = join(stack.workDir, `${ns}-limits.json`);
    await writeFile(
      limits,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'LimitRange',
        metadata: { name: 'small', namespace: ns },
        spec: { limits: [{ type: 'Container', max: { memory: '300Mi' } }] },
      }),
    );
    await kubectl('apply', '-f', limits);
    await applyChannel(kubectl, stack.workDir, ns, 'too-big', {
      clinicId: 'clinic-a',
      worker: { resources: { limits: { memory: '512Mi' } } },
    });
    const { cond } = await eventually('PodCreateFailed', async () => {
      const got = await conditionsOf('too-big');
      return got.cond('WorkerRunning')?.reason === 'PodCreateFailed' && got;
    });
    expect(cond('WorkerRunning')!.message).toMatch(
      /maximum memory usage per Container is 300Mi, but limit is 512Mi/,
    );
    expect(cond('Stalled')).toMatchObject({ status: 'True', reason: 'PodCreateFailed' });
    await kubectl(
      'patch',
      'wac',
      'too-big',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"spec":{"worker":{"resources":{"limits":{"memory":"256Mi"}}}}}',
    );
    await livePod('too-big');
    await eventually('WorkerRunning no longer PodCreateFailed', async () => {
      const got = await conditionsOf('too-big');
      return got.cond('WorkerRunning')?.reason === 'PodPending';
    });
    await kubectl('delete', 'wac', 'too-big', '-n', ns, '--timeout=60s');
  });

  test('deleting a channel with the Retain policy releases the finalizer and its pod goes', async () => {
    await kubectl('delete', 'wac', 'front-desk', '-n', ns, '--timeout=60s');
    await eventually('the channel gone', async () => (await getJson('wac')).items.length === 0);
    await eventually('its pod gone', async () => (await workerPods()).length === 0);
  });
});
