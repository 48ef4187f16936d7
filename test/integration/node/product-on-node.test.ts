import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from 'nats';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { ensureServerBinary } from '../../../local-servers/server-binary.ts';
import { startSimulator, type Simulator } from '../../../wa-sim/simulator.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { SERVERS } from '../../harness/catalog.ts';
import { eventually } from '../../harness/eventually.ts';
import {
  ensureProductImages,
  TEST_REGISTRY,
  type ProductImages,
} from '../../harness/images/product-images.ts';
import { startNodeCluster, type NodeCluster } from '../../harness/node/cluster.ts';
import { repoRoot } from '../../harness/paths.ts';
import type { ManagedProcess } from '../../harness/process.ts';
import { startNats } from '../../harness/servers/nats.ts';
import { testStack } from '../../harness/stack.ts';
import { TcpProxy } from '../../harness/tcp-proxy.ts';
import { realStorage } from '../auth-store/fixtures.ts';
import { ChannelWatch, storedInbound, type Storage } from '../worker/worker-harness.ts';
import { readmeInstallCommands } from './readme-install.ts';

/**
 * The product installed the way a platform engineer installs it, on a real one-node cluster
 * (test/harness/node/): the two images built from the Dockerfiles and loaded into the node's
 * containerd, `helm install` of the chart, the clinic namespace and a channel from
 * deploy/examples applied with kubectl. The operator runs as a pod with its ServiceAccount and
 * in-cluster configuration; its worker pods run under the restricted profile with the kubelet
 * calling their probes. Around the cluster: MinIO and local-kms of the test stack, a NATS
 * server of this file's own, and the WhatsApp Web simulator, all reached by the pods at the
 * node's address on the pod bridge.
 */
quietLibsignal();
const run = promisify(execFile);
const stack = testStack();
const log = (line: string) => process.stderr.write(`[node] ${line}\n`);
const PHONE = '5511900000091';
/** The phone of the dev overlay's channel. */
const DEV_PHONE = '5511900000092';
const CLINIC = 'clinic-a';
const CHANNEL = 'front-desk';

let images: ProductImages;
let cluster: NodeCluster;
let sim: Simulator;
let nats: ManagedProcess;
let nc: NatsConnection;
let storage: Storage;
const proxies: TcpProxy[] = [];
/** The worker pod statuses last seen, for a timeout's message. */
let podsSeen: unknown[] = [];
/** Where pods reach each server: the node's address on the pod bridge. */
const at: Record<'nats' | 's3' | 'kms', string> = { nats: '', s3: '', kms: '' };

beforeAll(async () => {
  images = await ensureProductImages(log);
  cluster = await startNodeCluster(log);
  await cluster.importImages([images.operator.ref, images.worker.ref]);
  const nodeIp = cluster.net.nodeIp;
  sim = await startSimulator({ host: nodeIp });
  const ownNats = await startNats(
    await ensureServerBinary(SERVERS.natsServer),
    await mkdtemp(join(stack.workDir, 'node-nats-')),
  );
  nats = ownNats.process;
  nc = await connect({ servers: ownNats.info.url });
  storage = await realStorage('node');
  for (const [key, target, scheme] of [
    ['nats', ownNats.info.url, 'nats'],
    ['s3', stack.s3.endpoint, 'http'],
    ['kms', stack.kms.endpoint, 'http'],
  ] as const) {
    const proxy = await TcpProxy.start(target, nodeIp);
    proxies.push(proxy);
    at[key] = `${scheme}://${nodeIp}:${proxy.port}`;
  }
}, 1_800_000);

afterAll(async () => {
  await nc?.close();
  await sim?.stop();
  for (const p of proxies) await p.stop();
  // The cluster first: its pods are the NATS server's clients.
  await cluster?.stop();
  await nats?.stop();
}, 300_000);

// Both from the repository root, as the README's commands are run.
const kubectl = (...args: string[]) =>
  run(cluster.kubectlBin, ['--kubeconfig', cluster.adminKubeconfig, ...args], {
    cwd: repoRoot,
    maxBuffer: 16 << 20,
  });
const helm = (...args: string[]) =>
  run(cluster.helmBin, ['--kubeconfig', cluster.adminKubeconfig, ...args], {
    cwd: repoRoot,
    maxBuffer: 16 << 20,
  });
const channel = async () =>
  JSON.parse((await kubectl('get', 'wac', CHANNEL, '-n', CLINIC, '-o', 'json')).stdout) as WhatsAppChannel;
interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  status: {
    phase: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      containerID?: string;
      restartCount: number;
      ready: boolean;
      state?: { running?: object; waiting?: { reason: string } };
      lastState?: { terminated?: { reason: string; exitCode: number } };
    }[];
  };
}
const workerPods = async () =>
  (
    JSON.parse(
      (await kubectl('get', 'pods', '-n', CLINIC, '-l', 'app.kubernetes.io/component=worker', '-o', 'json'))
        .stdout,
    ) as { items: Pod[] }
  ).items.filter((p) => !p.metadata.deletionTimestamp);
const onlyWorkerPod = async () => {
  const pods = await workerPods();
  return pods.length === 1 ? pods[0] : undefined;
};

let watch: ChannelWatch;

test("the README's install commands, as they stand: the chart with the built images, the operator as a pod with its ServiceAccount leading, a clinic namespace and a channel from deploy/examples", async () => {
  const commands = await readmeInstallCommands({
    REGISTRY: TEST_REGISTRY,
    S3_ACCESS_KEY: stack.s3.accessKeyId,
    S3_SECRET_KEY: stack.s3.secretAccessKey,
    NATS_URL: at.nats,
    BUCKET: storage.bucket,
    S3_ENDPOINT: at.s3,
    KMS_KEY_ID: storage.keyId,
    KMS_ENDPOINT: at.kms,
  });
  expect(commands.map((c) => c.slice(0, 2).join(' '))).toEqual([
    'kubectl create',
    'kubectl -n',
    'helm install',
    'kubectl apply',
    'kubectl -n',
    'kubectl apply',
  ]);
  watch = await ChannelWatch.start(nc, CLINIC, CHANNEL);
  for (const [tool, ...args] of commands) {
    if (tool === 'helm') {
      // The only addition: the workers talk to the WhatsApp protocol simulator.
      await helm(
        ...args,
        '--set',
        `worker.simulator.url=${sim.url}`,
        '--set',
        `worker.simulator.trustRoot=${sim.rootPublicKey.toString('hex')}`,
        '--timeout=5m',
      );
      await expectOperatorLeading();
    } else {
      if (args.join(' ') === 'apply -f deploy/examples/channel-qr.yaml') await quotaCounting();
      await kubectl(...args);
    }
  }
}, 900_000);

/**
 * Deletes the channel with deletionPolicy Logout and waits until it is gone: the phone shows its
 * device unlinked, and no state is left in the bucket.
 */
async function deleteWithLogout(phonePn: string, device: string): Promise<void> {
  await kubectl(
    'patch',
    'wac',
    CHANNEL,
    '-n',
    CLINIC,
    '--type=merge',
    '-p',
    '{"spec":{"deletionPolicy":"Logout"}}',
  );
  await kubectl('delete', 'wac', CHANNEL, '-n', CLINIC, '--wait=false');
  await eventually(
    'the channel gone',
    async () =>
      (await kubectl('get', 'wac', CHANNEL, '-n', CLINIC, '--ignore-not-found', '-o', 'name')).stdout === '',
    120_000,
  );
  expect(sim.phone(phonePn).links()).toEqual([[device, true]]);
  expect(await storage.store.list(`wa/${CLINIC}/${CHANNEL}/`)).toEqual([]);
}

/** The operator's two pods on the node, Ready (the kubelet's readiness probe), one of them leading. */
async function expectOperatorLeading(): Promise<void> {
  const pods = JSON.parse((await kubectl('get', 'pods', '-n', 'whatsapp-system', '-o', 'json')).stdout) as {
    items: (Pod & { spec: { serviceAccountName: string; nodeName: string } })[];
  };
  expect(pods.items).toHaveLength(2);
  for (const p of pods.items) {
    expect(p.spec.serviceAccountName).toBe('whatsapp-operator');
    expect(p.spec.nodeName).toBe(cluster.nodeName);
    expect(p.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
  }
  // Leader election may take a moment after the pods are Ready.
  const holder = await eventually(
    'an operator pod holding the leader lease',
    async () =>
      (
        JSON.parse(
          (await kubectl('get', 'lease', 'whatsapp-operator-leader', '-n', 'whatsapp-system', '-o', 'json'))
            .stdout,
        ) as { spec: { holderIdentity?: string } }
      ).spec.holderIdentity,
    60_000,
  );
  expect(pods.items.map((p) => p.metadata.name)).toContain(holder);
}

/**
 * The clinic namespace's ResourceQuota counts channels: the API server refuses one until the quota
 * controller has first counted them (it finds the channel resource by discovery, every 30 s), as
 * right after any new clinic namespace. A person would retry; the test waits.
 */
async function quotaCounting(): Promise<void> {
  await eventually(
    'the clinic quota counting channels',
    async () =>
      (
        JSON.parse(
          (await kubectl('get', 'resourcequota', 'whatsapp', '-n', CLINIC, '-o', 'json')).stdout,
        ) as {
          status?: { used?: Record<string, string> };
        }
      ).status?.used?.['count/whatsappchannels.whatsapp.clinic.dev'] === '0',
    120_000,
  );
}

test("the channel's worker pod pairs, takes a message, restores after its pod is deleted and its container killed, and logs out on deletion", async () => {
  // Pairing: the QR on NATS, scanned by the phone; Connected in the resource, the pod Ready.
  const qr = await watch.waitQr(0, 180_000);
  const device = await sim.phone(PHONE).scanQr(qr.qr!);
  const first = await eventually(
    () => `Connected and Ready (pods: ${JSON.stringify(podsSeen)})`,
    async () => {
      const c = await channel();
      const pod = await onlyWorkerPod();
      podsSeen = pod ? [pod.status] : [];
      return c.status?.phase === 'Connected' &&
        pod?.status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')
        ? pod
        : undefined;
    },
    180_000,
  );
  expect((await channel()).status!.account).toBe(device);
  const qrs = () => watch.pairing.filter((p) => p.type === 'qr').length;
  const qrsAfterPairing = qrs();

  // A message from a patient reaches the clinic's stream.
  await sim.contact('5511977770091', 'Patient').sendText(PHONE, 'hello from the node test');
  await eventually('the message in JetStream', async () =>
    (await storedInbound(nc, CLINIC, CHANNEL)).some((m) => m.event.text === 'hello from the node test'),
  );

  // kubectl delete pod: the operator makes a new pod, which restores the session from S3.
  await kubectl('delete', 'pod', first.metadata.name, '-n', CLINIC, '--wait=false');
  const second = await eventually(
    'a new Ready worker pod, Connected',
    async () => {
      const pod = await onlyWorkerPod();
      const c = await channel();
      return pod &&
        pod.metadata.uid !== first.metadata.uid &&
        c.status?.phase === 'Connected' &&
        c.status.workerPod === pod.metadata.name &&
        pod.status.conditions?.some((x) => x.type === 'Ready' && x.status === 'True')
        ? pod
        : undefined;
    },
    180_000,
  );
  expect(qrs()).toBe(qrsAfterPairing);
  expect(sim.connections.maxConcurrent(device)).toBe(1);

  // The node kills the container (as the kernel or a runtime restart would): the kubelet
  // restarts it in the same pod, and the session comes back without a QR.
  const containerId = second.status.containerStatuses![0]!.containerID!.replace(/^containerd:\/\//, '');
  await cluster.containerd.ctr('tasks', 'kill', '--signal', 'SIGKILL', containerId);
  await eventually(
    'the container restarted by the kubelet, Ready and Connected',
    async () => {
      const pod = await onlyWorkerPod();
      const status = pod?.status.containerStatuses?.[0];
      return (
        pod?.metadata.uid === second.metadata.uid &&
        status?.restartCount === 1 &&
        status.ready &&
        status.lastState?.terminated?.exitCode === 137 &&
        (await channel()).status?.phase === 'Connected'
      );
    },
    180_000,
  );
  expect(qrs()).toBe(qrsAfterPairing);
  expect(sim.connections.maxConcurrent(device)).toBe(1);
  expect(sim.phone(PHONE).links()).toEqual([[device, false]]);

  // Deleted with deletionPolicy Logout: the device is unlinked on the phone, the state erased.
  expect((await storage.store.list(`wa/${CLINIC}/${CHANNEL}/`)).length).toBeGreaterThan(0);
  await deleteWithLogout(PHONE, device);
  await eventually('no worker pod left', async () => (await workerPods()).length === 0, 60_000);
  expect(sim.connections.maxConcurrent(device)).toBe(1);
  watch.stop();
}, 900_000);

test('a worker over its memory limit is OOM-killed by the kernel, restarted by the kubelet, and runs again once its limit is raised', async () => {
  const file = join(cluster.dir, 'oom-desk.yaml');
  const oomWatch = await ChannelWatch.start(nc, CLINIC, 'oom-desk');
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: 'whatsapp.clinic.dev/v1alpha1',
      kind: 'WhatsAppChannel',
      metadata: { name: 'oom-desk', namespace: CLINIC },
      // Below what a worker needs at start (about 180 MiB resident): the container's memory cgroup
      // hits its limit while Baileys loads.
      spec: {
        clinicId: CLINIC,
        channelId: 'oom-desk',
        worker: { resources: { requests: { memory: '64Mi' }, limits: { memory: '64Mi' } } },
      },
    }),
  );
  await kubectl('apply', '-f', file);
  const pod = () =>
    kubectl('get', 'pod', 'wa-oom-desk', '-n', CLINIC, '-o', 'json').then((r) => JSON.parse(r.stdout) as Pod);
  const killed = await eventually(
    'the worker OOM-killed and restarted',
    async () => {
      const status = (await pod()).status.containerStatuses?.[0];
      return status && status.restartCount >= 1 && status.lastState?.terminated?.reason === 'OOMKilled'
        ? status
        : undefined;
    },
    180_000,
  );
  expect(killed.lastState!.terminated!.exitCode).toBe(137);
  const oomPod = (await pod()).metadata.uid;
  // Raised: the operator replaces the pod, and the worker asks for a QR code (never paired).
  await kubectl(
    'patch',
    'wac',
    'oom-desk',
    '-n',
    CLINIC,
    '--type=merge',
    '-p',
    '{"spec":{"worker":{"resources":{"limits":{"memory":"384Mi"}}}}}',
  );
  // A worker that is not paired asks for a QR code (it is Ready only once Connected).
  await oomWatch.waitQr(0, 180_000);
  await eventually(
    'a new pod whose worker runs without a restart',
    async () => {
      const now = await pod();
      const status = now.status.containerStatuses?.[0];
      return now.metadata.uid !== oomPod && status?.restartCount === 0 && status.state?.running !== undefined;
    },
    120_000,
  );
  expect(oomWatch.status.some((s) => s.phase === 'QRRequired')).toBe(true);
  oomWatch.stop();
  await kubectl('delete', 'wac', 'oom-desk', '-n', CLINIC);
}, 600_000);

test('the dev overlay with kubectl apply -k instead of the chart: its operator pairs a channel, and logs it out on deletion', async () => {
  await helm('uninstall', 'whatsapp-operator', '-n', 'whatsapp-system', '--wait', '--timeout=3m');
  // The dev overlay as it stands, with only what differs here on top: where NATS, MinIO,
  // local-kms and the simulator are, and the images' names.
  const overlay = join(cluster.dir, 'overlay');
  await mkdir(overlay);
  await writeFile(
    join(overlay, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      `  - ${relative(overlay, join(repoRoot, 'deploy/overlays/dev'))}`,
      'configMapGenerator:',
      '  - name: whatsapp-operator-config',
      '    behavior: merge',
      '    literals:',
      ...Object.entries({
        NATS_URL: at.nats,
        WA_S3_BUCKET: storage.bucket,
        WA_S3_ENDPOINT: at.s3,
        WA_KMS_KEY_ID: storage.keyId,
        WA_KMS_ENDPOINT: at.kms,
        WA_WORKER_IMAGE: images.worker.ref,
        WA_WORKER_SIMULATOR_URL: sim.url,
        WA_WORKER_SIMULATOR_TRUST_ROOT: sim.rootPublicKey.toString('hex'),
      }).map(([k, v]) => `      - ${k}=${v}`),
      'images:',
      '  - name: localhost:5000/whatsapp-operator',
      `    newName: ${images.operator.repository}`,
      `    newTag: ${images.operator.tag}`,
      '',
    ].join('\n'),
  );
  await kubectl('apply', '-k', overlay);
  await kubectl(
    'rollout',
    'status',
    'deployment/whatsapp-operator',
    '-n',
    'whatsapp-system',
    '--timeout=180s',
  );

  const devWatch = await ChannelWatch.start(nc, CLINIC, CHANNEL);
  await kubectl('apply', '-f', 'deploy/examples/channel-qr.yaml');
  const qr = await devWatch.waitQr(0, 180_000);
  const device = await sim.phone(DEV_PHONE).scanQr(qr.qr!);
  await eventually(
    'Connected',
    async () => {
      const c = await channel();
      return c.status?.phase === 'Connected' && c.status.account === device;
    },
    180_000,
  );
  await deleteWithLogout(DEV_PHONE, device);
  expect(sim.connections.maxConcurrent(device)).toBe(1);
  devWatch.stop();
}, 600_000);
