import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runContainer, type Container } from '../../harness/images/container.ts';
import { docker } from '../../harness/images/docker.ts';
import {
  ensureProductImages,
  productVersion,
  type ProductImages,
} from '../../harness/images/product-images.ts';
import { adminKubectl } from '../../harness/kubectl.ts';
import { freePort } from '../../harness/ports.ts';
import { testStack } from '../../harness/stack.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { prepareNamespace } from '../operator/fixtures.ts';
import { ChannelWatch, eventually, WorkerSuite, workerBaseEnv } from '../worker/worker-harness.ts';

/**
 * The two images built from the project's Dockerfiles (test/harness/images/), run as the
 * kubelet runs the chart's pods: user 65532, read-only root filesystem, no capabilities. Whatever
 * an image lacks (a dependency left out, a file written at run time, a missing library) fails
 * here. The worker pairs with the protocol simulator and reaches Connected over real NATS,
 * MinIO and local-kms; the operator finds the API server from its in-cluster service account,
 * as in a pod, and takes the lead.
 */
quietLibsignal();
const stack = testStack();
const suite = new WorkerSuite('wimg');
const containers: Container[] = [];
let images: ProductImages;

beforeAll(async () => {
  // Cold: Docker installed and started, base images made, both images built (minutes); warm: seconds.
  images = await ensureProductImages((line) => process.stderr.write(`[images] ${line}\n`));
}, 1_200_000);
afterAll(async () => {
  for (const c of containers) c.kill('SIGKILL');
  await Promise.all(containers.map((c) => c.exited));
});

test('both images are built, carry the version label, and their sizes are recorded', async () => {
  for (const image of [images.operator, images.worker]) {
    expect(image.size).toBeGreaterThan(50 * 2 ** 20);
    const labels = JSON.parse(
      (await docker('image', 'inspect', '--format', '{{json .Config.Labels}}', image.ref)).stdout,
    ) as Record<string, string>;
    expect(labels['org.opencontainers.image.version']).toBe(await productVersion());
    process.stderr.write(`[images] ${image.ref}: ${(image.size / 2 ** 20).toFixed(1)} MiB\n`);
  }
  await writeFile(join(stack.workDir, 'image-sizes.json'), JSON.stringify(images, null, 2));
});

test('the worker image pairs with the simulator and reaches Connected, read-only and unprivileged', async () => {
  const env = suite.envFor('front-desk');
  const httpPort = await freePort();
  // The simulator's root key reaches the container as a mounted file, as a pod's volume would.
  const trustRoot = '/etc/wa-sim/root.hex';
  const watch = await ChannelWatch.start(suite.nc, env.clinic, env.channel);
  const worker = await runContainer({
    image: images.worker.ref,
    workDir: stack.workDir,
    env: {
      ...workerBaseEnv(env.clinic, env.channel, 'pod-image-1', env.storage),
      WA_WS_URL: suite.sim.url,
      WA_TRUST_ROOT: trustRoot,
      WA_HTTP_PORT: String(httpPort),
    },
    mounts: { [env.trustRoot]: trustRoot },
  });
  containers.push(worker);
  const qr = await watch.waitQr(0, 90_000);
  const device = await suite.sim.phone('5511900000071').scanQr(qr.qr!);
  await watch.waitStatus('Connected', (s) => s.phase === 'Connected', 90_000);
  expect(suite.sim.connections.maxConcurrent(device)).toBe(1);
  // The kubelet's probes: readiness and liveness over HTTP.
  await eventually('ready', async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).ok);
  expect((await fetch(`http://127.0.0.1:${httpPort}/livez`)).status).toBe(200);
  // SIGTERM as on pod deletion: a clean exit within the grace period.
  worker.kill('SIGTERM');
  expect(await worker.exited).toBe(0);
  expect(worker.logs()).not.toMatch(/EROFS|EACCES|ERR_MODULE_NOT_FOUND/);
  watch.stop();
});

test('the operator image finds the API server from its service account and leads', async () => {
  const kubectl = adminKubectl();
  const ns = `opimg-${Date.now().toString(36)}`;
  await prepareNamespace(kubectl, ns, ['whatsapp.clinic.dev/clinic=clinic-img']);
  await kubectl('create', 'serviceaccount', 'whatsapp-operator', '-n', ns);
  await kubectl(
    'create',
    'clusterrolebinding',
    `${ns}-operator`,
    '--clusterrole=cluster-admin',
    `--serviceaccount=${ns}:whatsapp-operator`,
  );
  // What the kubelet mounts for a pod's service account: a token, the cluster CA, the namespace.
  const sa = join(stack.workDir, `${ns}-serviceaccount`);
  await mkdir(sa);
  await chmod(sa, 0o755);
  const token = (await kubectl('create', 'token', 'whatsapp-operator', '-n', ns)).stdout.trim();
  await writeFile(join(sa, 'token'), token, { mode: 0o644 });
  await writeFile(join(sa, 'namespace'), ns, { mode: 0o644 });
  await writeFile(join(sa, 'ca.crt'), await readFile(stack.kube.caFile), {
    mode: 0o644,
  });
  const apiserver = new URL(stack.kube.server);
  const httpPort = await freePort();
  const operator = await runContainer({
    image: images.operator.ref,
    workDir: stack.workDir,
    env: {
      KUBERNETES_SERVICE_HOST: apiserver.hostname,
      KUBERNETES_SERVICE_PORT: apiserver.port,
      POD_NAME: 'operator-image-0',
      POD_NAMESPACE: ns,
      WA_WATCH_NAMESPACE: ns,
      NATS_URL: stack.nats.url,
      WA_WORKER_IMAGE: images.worker.ref,
      WA_S3_BUCKET: 'wa-state',
      WA_S3_ENDPOINT: stack.s3.endpoint,
      WA_KMS_KEY_ID: 'alias/wa',
      WA_KMS_ENDPOINT: stack.kms.endpoint,
      WA_HTTP_PORT: String(httpPort),
    },
    mounts: { [sa]: '/var/run/secrets/kubernetes.io/serviceaccount' },
  });
  containers.push(operator);
  await eventually(
    () => `the operator to lead; its output:\n${operator.logs()}`,
    async () => operator.logs().includes('became the leader'),
    90_000,
  );
  const lease = JSON.parse(
    (await kubectl('get', 'lease', 'whatsapp-operator-leader', '-n', ns, '-o', 'json')).stdout,
  ) as { spec: { holderIdentity: string } };
  expect(lease.spec.holderIdentity).toBe('operator-image-0');
  await eventually('ready', async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).ok);
  operator.kill('SIGTERM');
  expect(await operator.exited).toBe(0);
  expect(operator.logs()).not.toMatch(/EROFS|EACCES|ERR_MODULE_NOT_FOUND/);
  await kubectl('delete', 'clusterrolebinding', `${ns}-operator`);
});
