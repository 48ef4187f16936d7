/**
 * npm run bench -- operator: 1,000 channels on a real kube-apiserver.
 *
 * Baseline (same run, same client, same concurrency): creating the same 1,000 worker
 * pods directly, without an operator: the floor of what the API server allows here.
 * Printed: time from applying 1,000 channels to 1,000 pods (and to status written),
 * API writes per channel, operator heap/RSS growth at 1,000 channels, and API writes
 * during a steady-state window (target zero).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { connect } from 'nats';
import pino from 'pino';
import { API_VERSION, CRD_NAME, KIND, type WhatsAppChannel } from '../../../contract/index.ts';
import { parseOperatorConfig } from '../../../operator/src/config.ts';
import { startController } from '../../../operator/src/controller/controller.ts';
import { buildWorkerPod } from '../../../operator/src/pod.ts';
import { repoRoot } from '../../harness/paths.ts';
import { startStack } from '../../harness/stack.ts';

const N = Number(process.env.BENCH_CHANNELS ?? 1000);
const STEADY_MS = Number(process.env.BENCH_STEADY_SECONDS ?? 60) * 1000;
const CONCURRENCY = 8;
const run = promisify(execFile);

const running = await startStack(() => {}, ['nats', 'kube']);
try {
  const { kube, bins, nats, workDir } = running.stack;
  const kubectl = (...args: string[]) =>
    run(bins.kubectl, ['--kubeconfig', kube.kubeconfig, ...args], { maxBuffer: 64 << 20 });
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfig);
  const api = KubernetesObjectApi.makeApiClient(kc);
  await kubectl('apply', '--server-side', '-f', join(repoRoot, 'crds'));
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`);
  for (const ns of ['bench-base', 'bench-op']) {
    await kubectl('create', 'namespace', ns);
    await kubectl('create', 'serviceaccount', 'whatsapp-worker', '-n', ns);
  }
  const parsed = parseOperatorConfig({
    WA_WATCH_NAMESPACE: 'bench-op',
    NATS_URL: nats.url,
    WA_WORKER_IMAGE: 'w',
    WA_S3_BUCKET: 'b',
    WA_KMS_KEY_ID: 'k',
    WA_RECONCILE_CONCURRENCY: String(CONCURRENCY),
  });
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const channel = (i: number, ns: string): WhatsAppChannel => ({
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: `ch-${i}`,
      namespace: ns,
      uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
    },
    spec: { clinicId: `clinic-${i % 50}`, channelId: `ch-${i}` },
  });
  const countPods = async (ns: string) =>
    Number(
      (await kubectl('get', 'pods', '-n', ns, '--no-headers', '-o', 'name')).stdout
        .trim()
        .split('\n')
        .filter(Boolean).length,
    );

  // Baseline: the same pods created directly, CONCURRENCY at a time.
  let t = performance.now();
  const queue = Array.from({ length: N }, (_, i) => i);
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const pod = buildWorkerPod(channel(i, 'bench-base'), parsed.config);
        delete pod.metadata!.ownerReferences; // no owner exists in the baseline
        await api.create(pod as KubernetesObject);
      }
    }),
  );
  const baselineMs = performance.now() - t;

  // The operator: apply N channels, wait for N pods and N statuses.
  const nc = await connect({ servers: nats.url });
  global.gc?.();
  const heapBefore = process.memoryUsage();
  const controller = await startController(kc, parsed.config, nc, pino({ level: 'silent' }));
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    items: Array.from({ length: N }, (_, i) => {
      const c = channel(i, 'bench-op');
      delete (c.metadata as { uid?: string }).uid;
      return c;
    }),
  };
  const file = join(workDir, 'channels.json');
  await writeFile(file, JSON.stringify(list));
  t = performance.now();
  await kubectl('apply', '-f', file);
  const appliedMs = performance.now() - t;
  while ((await countPods('bench-op')) < N) await new Promise((r) => setTimeout(r, 250));
  const podsMs = performance.now() - t;
  const withStatus = () => controller.channels.values().filter((c) => c.status?.phase).length;
  while (withStatus() < N) await new Promise((r) => setTimeout(r, 250));
  const statusMs = performance.now() - t;
  global.gc?.();
  const heapAfter = process.memoryUsage();
  const writes = () => [...controller.writes.values()].reduce((a, b) => a + b, 0);
  // Converged = the queue is empty and no write happened for 5 s (status of every channel is
  // written before the pod events that follow it are all processed).
  for (let last = -1, quietSince = Date.now(); ; await new Promise((r) => setTimeout(r, 250))) {
    if (writes() !== last || controller.queue.depth > 0) {
      last = writes();
      quietSince = Date.now();
    } else if (Date.now() - quietSince > 5_000) break;
  }
  const settledMs = performance.now() - t - 5_000;
  const writesAtSettle = writes();

  // Steady state: nothing changes; a relist (as after a dropped watch) must not cause writes either.
  const steadyStart = writes();
  await new Promise((r) => setTimeout(r, STEADY_MS / 2));
  for (const c of controller.channels.values())
    controller.queue.add(`${c.metadata.namespace}/${c.metadata.name}`);
  await new Promise((r) => setTimeout(r, STEADY_MS / 2));
  const steadyWrites = writes() - steadyStart;
  controller.stop();
  await nc.close();

  const rows = [
    ['measure', 'value'],
    [
      `baseline: ${N} pods created directly (${CONCURRENCY} at a time)`,
      `${(baselineMs / 1000).toFixed(1)} s`,
    ],
    [`operator: ${N} channels applied (kubectl apply of one list)`, `${(appliedMs / 1000).toFixed(1)} s`],
    [
      `operator: apply → ${N} pods created`,
      `${(podsMs / 1000).toFixed(1)} s (${(podsMs / baselineMs).toFixed(2)}x baseline)`,
    ],
    [`operator: apply → ${N} statuses written`, `${(statusMs / 1000).toFixed(1)} s`],
    [`operator: apply → converged (queue empty, no more writes)`, `${(settledMs / 1000).toFixed(1)} s`],
    ['API writes per channel (finalizer, pod, status, event)', (writesAtSettle / N).toFixed(2)],
    [
      `heap growth at ${N} channels (in-process controller)`,
      `${((heapAfter.heapUsed - heapBefore.heapUsed) / 1048576).toFixed(1)} MiB`,
    ],
    [
      `process RSS at ${N} channels (bench process incl. controller)`,
      `${(heapAfter.rss / 1048576).toFixed(0)} MiB`,
    ],
    [`API writes in ${STEADY_MS / 1000} s of steady state incl. one relist (target 0)`, String(steadyWrites)],
  ];
  const w = [Math.max(...rows.map((r) => r[0]!.length)), Math.max(...rows.map((r) => r[1]!.length))];
  console.log(`\noperator, ${N} channels on a real kube-apiserver ${running.stack.kube.server}`);
  for (const r of rows) console.log(`${r[0]!.padEnd(w[0]!)}  ${r[1]}`);
} finally {
  await running.stop();
}
