/**
 * npm run bench -- operator: 1,000 channels on a real kube-apiserver, with the operator
 * running as its own process (`node operator/src/main.ts`), as in production.
 *
 * Baseline (same run, same API server, same concurrency): creating the same worker pods
 * directly, without an operator: the floor of what the API server allows here. A second
 * baseline does directly what must happen before each pod whatever the operator does (create
 * the channel, add its finalizer, create its pod): the operator against it is its own cost.
 * Printed: time from applying the channels to all pods created, to all statuses written,
 * and to all statuses Connected once every worker reports; API requests and writes per
 * channel (the operator's own counters); the operator's RSS before and at N channels; API
 * writes and requests during a steady-state window (target zero).
 *
 * BENCH_CHANNELS (1000) and BENCH_STEADY_SECONDS (60) change the size.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import { connect } from 'nats';
import {
  API_VERSION,
  CRD_NAME,
  FINALIZER,
  GROUP,
  KIND,
  PLURAL,
  VERSION,
  type WhatsAppChannel,
} from '../../../contract/index.ts';
import { parseOperatorConfig } from '../../../operator/src/config.ts';
import { buildWorkerPod } from '../../../operator/src/pod.ts';
import { watchCollection } from '../../harness/kube-watch.ts';
import { repoRoot } from '../../harness/paths.ts';
import { freePort } from '../../harness/ports.ts';
import { startStack } from '../../harness/stack.ts';
import { GoalTable } from '../goal-table.ts';
import { publishStatus } from '../../integration/operator/fixtures.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const N = Number(process.env.BENCH_CHANNELS ?? 1000);
const STEADY_MS = Number(process.env.BENCH_STEADY_SECONDS ?? 60) * 1000;
const CONCURRENCY = 8;
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const progress = (what: string) => process.stderr.write(`[bench operator] ${what}\n`);

/** The operator image's NODE_OPTIONS (operator/Dockerfile); BENCH_OPERATOR_NODE_OPTIONS replaces them. */
const OPERATOR_IMAGE_NODE_OPTIONS =
  '--max-old-space-size=384 --max-semi-space-size=4 --disable-warning=ExperimentalWarning';

const running = await startStack(() => {}, ['nats', 'kube']);
// What the operator image's build does: fill the compile cache once (operator/Dockerfile).
const compileCache = await mkdtemp(join(tmpdir(), 'bench-operator-cache-'));
if (!process.env.BENCH_OPERATOR_NO_COMPILE_CACHE) {
  const warm = spawnSync(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, 'operator/src/warm-compile-cache.ts')],
    { env: { PATH: process.env.PATH, NODE_COMPILE_CACHE: compileCache }, encoding: 'utf8' },
  );
  if (warm.status !== 0) throw new Error(`warm-compile-cache failed: ${warm.stderr}`);
}
const operatorEnv = (ns: string, port: number, kubeconfig: string, natsUrl: string) => ({
  PATH: process.env.PATH,
  KUBECONFIG: kubeconfig,
  POD_NAME: 'bench-operator',
  POD_NAMESPACE: ns,
  WA_WATCH_NAMESPACE: ns,
  NATS_URL: natsUrl,
  WA_WORKER_IMAGE: 'w',
  WA_S3_BUCKET: 'bench',
  WA_KMS_KEY_ID: 'k',
  WA_RECONCILE_CONCURRENCY: String(CONCURRENCY),
  WA_HTTP_PORT: String(port),
  WA_LOG_LEVEL: 'warn',
  // 50 clinics in one namespace: a single-team shape, without the clinic rule.
  WA_CLINIC_NAMESPACE_CHECK: 'false',
  // As the operator image runs it (operator/Dockerfile): its NODE_OPTIONS and compile cache.
  NODE_OPTIONS: process.env.BENCH_OPERATOR_NODE_OPTIONS ?? OPERATOR_IMAGE_NODE_OPTIONS,
  ...(process.env.BENCH_OPERATOR_NO_COMPILE_CACHE ? {} : { NODE_COMPILE_CACHE: compileCache }),
});
try {
  const { kube, bins, nats } = running.stack;
  const kubectl = (...args: string[]) =>
    run(bins.kubectl, ['--kubeconfig', kube.kubeconfig, ...args], { maxBuffer: 64 << 20 });
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfig);
  const api = KubernetesObjectApi.makeApiClient(kc);
  await kubectl('apply', '--server-side', '-f', join(repoRoot, 'crds'));
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', `crd/${CRD_NAME}`);
  for (const ns of ['bench-base', 'bench-same', 'bench-op']) await kubectl('create', 'namespace', ns);
  const parsed = parseOperatorConfig({
    NATS_URL: nats.url,
    WA_WORKER_IMAGE: 'w',
    WA_S3_BUCKET: 'bench',
    WA_KMS_KEY_ID: 'k',
    WA_CLINIC_NAMESPACE_CHECK: 'false',
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

  // Baseline: the same pods created directly, CONCURRENCY at a time.
  let t = performance.now();
  await inLanes(N, CONCURRENCY, async (i) => {
    const pod = buildWorkerPod(channel(i, 'bench-base'), parsed.config);
    delete pod.metadata!.ownerReferences; // no owner exists in the baseline
    await api.create(pod as KubernetesObject);
  });
  const baselineMs = performance.now() - t;
  progress('baseline done');

  // Second baseline, for the reading of the first: the API work that comes before a channel's pod
  // whatever the operator does, done directly by a client that costs nothing to run: the channels'
  // creation (the user's, CONCURRENCY at a time, as below) and, as each one exists, its finalizer
  // (before the pod, so that a deletion always runs its clean-up) and its pod, owned by it
  // (CONCURRENCY at a time, as the operator's reconciles). A "free operator": the gap between this
  // and the operator is the operator's own cost (watching, queueing, its process on the shared CPU).
  t = performance.now();
  const finalizerAndPod = limitTo(CONCURRENCY);
  const followUps: Promise<void>[] = [];
  await inLanes(N, CONCURRENCY, async (i) => {
    const c = channel(i, 'bench-same');
    delete (c.metadata as { uid?: string }).uid;
    await api.create(c as unknown as KubernetesObject);
    followUps.push(
      finalizerAndPod(async () => {
        const finalized = (await api.patch(
          {
            apiVersion: API_VERSION,
            kind: KIND,
            metadata: { name: c.metadata.name, namespace: c.metadata.namespace, finalizers: [FINALIZER] },
          },
          undefined,
          undefined,
          'bench',
          undefined,
          PatchStrategy.MergePatch,
        )) as unknown as WhatsAppChannel;
        await api.create(buildWorkerPod(finalized, parsed.config) as KubernetesObject);
      }),
    );
  });
  await Promise.all(followUps);
  const sameWorkMs = performance.now() - t;
  progress('second baseline done');

  // Caches of what the operator produces (one watch each, resumed if it drops; no polling).
  const pods = await watchCollection<V1Pod>(kube.kubeconfig, '/api/v1/namespaces/bench-op/pods');
  const channels = await watchCollection<WhatsAppChannel>(
    kube.kubeconfig,
    `/apis/${GROUP}/${VERSION}/namespaces/bench-op/${PLURAL}`,
  );

  // The operator, as its own process.
  const port = await freePort();
  const operator = spawn(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', join(repoRoot, 'operator/src/main.ts')],
    { env: operatorEnv('bench-op', port, kube.kubeconfig, nats.url), stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const metrics = async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const sum = (name: string) =>
      [
        ...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+(?:\\.\\d+)?(?:e\\+\\d+)?)$`, 'gm')),
      ].reduce((a, m) => a + Number(m[1]), 0);
    return {
      writes: sum('wa_operator_api_writes_total'),
      requests: sum('wa_operator_api_requests_total'),
      rss: sum('wa_operator_process_resident_memory_bytes'),
      heap: sum('wa_operator_nodejs_heap_size_used_bytes'),
      queue: sum('wa_operator_queue_depth'),
      text,
    };
  };
  for (;;) {
    const m = await metrics().catch(() => undefined);
    if (m?.text.includes('wa_operator_reconciles_total')) break;
    await sleep(200);
  }
  const idle = await metrics();
  progress('operator up');

  // The channels, created through the API the way the baseline creates pods (same concurrency).
  t = performance.now();
  await inLanes(N, CONCURRENCY, async (i) => {
    const c = channel(i, 'bench-op');
    delete (c.metadata as { uid?: string }).uid;
    await api.create(c as unknown as KubernetesObject);
  });
  const appliedMs = performance.now() - t;
  progress('channels applied');
  while (pods.size < N) await sleep(50);
  const podsMs = performance.now() - t;
  progress('pods created');
  for (let i = 0; [...channels.values()].filter((c) => c.status?.phase).length < N; i++) {
    if (i % 100 === 99)
      progress(
        `statuses: ${[...channels.values()].filter((c) => c.status?.phase).length} of ${N} (seen ${channels.size})`,
      );
    await sleep(50);
  }
  const statusMs = performance.now() - t;
  progress('statuses written');

  // Every worker reports Connected (as N workers would, on NATS).
  const nc = await connect({ servers: nats.url });
  const t2 = performance.now();
  for (const p of pods.values())
    publishStatus(nc, p, 'Connected', 1, { account: `${p.metadata!.name}@s.whatsapp.net` });
  await nc.flush();
  while ([...channels.values()].filter((c) => c.status?.phase === 'Connected').length < N) await sleep(50);
  const connectedMs = performance.now() - t2;
  progress('statuses Connected');

  // Converged = the queue is empty and no write happened for 5 s.
  let m = await metrics();
  for (let quietSince = Date.now(); Date.now() - quietSince < 5_000; await sleep(250)) {
    const now = await metrics();
    if (now.writes !== m.writes || now.queue > 0) quietSince = Date.now();
    m = now;
  }
  const converged = await metrics();
  progress('converged; steady-state window');

  // Steady state: nothing changes.
  await sleep(STEADY_MS);
  const steady = await metrics();
  operator.kill('SIGTERM');
  await new Promise((r) => operator.once('exit', r));
  pods.stop();
  channels.stop();
  await nc.close();

  const table = new GoalTable(['measure', 'value']);
  table.addRow([`baseline: ${N} pods created directly (${CONCURRENCY} at a time)`, seconds(baselineMs)]);
  table.addRow([
    `second baseline: ${N} channels created and, as each exists, its finalizer and pod, directly (8 + 8 at a time)`,
    `${seconds(sameWorkMs)} (${(sameWorkMs / baselineMs).toFixed(2)}x baseline)`,
  ]);
  table.addRow([`operator: ${N} channels created (${CONCURRENCY} at a time)`, seconds(appliedMs)]);
  table.addRow(
    [
      `operator: first channel created → ${N} pods created`,
      `${seconds(podsMs)} (${(podsMs / baselineMs).toFixed(2)}x baseline)`,
    ],
    { text: '≤ 1.2x baseline', met: podsMs / baselineMs <= 1.2 },
  );
  table.addRow([
    `operator: first channel created → ${N} pods, against the second baseline`,
    `${(podsMs / sameWorkMs).toFixed(2)}x`,
  ]);
  table.addRow([`operator: first channel created → ${N} statuses written`, seconds(statusMs)]);
  table.addRow([`operator: ${N} workers report Connected → ${N} statuses Connected`, seconds(connectedMs)]);
  table.addRow([
    'API requests per channel, to converged (lists, creates, patches, events)',
    (converged.requests / N).toFixed(2),
  ]);
  table.addRow(
    [
      `API writes per channel, to converged (${writeKinds(converged.text, N)})`,
      (converged.writes / N).toFixed(2),
    ],
    { text: '≤ 4', met: converged.writes / N <= 4 },
  );
  table.addRow(['operator RSS with 0 channels (its own process)', `${(idle.rss / 1048576).toFixed(0)} MiB`]);
  table.addRow(
    [`operator RSS at ${N} channels (its own process)`, `${(converged.rss / 1048576).toFixed(0)} MiB`],
    N <= 1000 ? { text: '≤ 150 MiB at 1,000', met: converged.rss / 1048576 <= 150 } : undefined,
  );
  table.addRow([
    `operator JS heap used with 0 / at ${N} channels`,
    `${(idle.heap / 1048576).toFixed(0)} / ${(converged.heap / 1048576).toFixed(0)} MiB`,
  ]);
  table.addRow([
    `operator RSS / JS heap used at the end of the steady window`,
    `${(steady.rss / 1048576).toFixed(0)} / ${(steady.heap / 1048576).toFixed(0)} MiB`,
  ]);
  table.addRow(
    [`API writes in ${STEADY_MS / 1000} s of steady state`, String(steady.writes - converged.writes)],
    {
      text: '0',
      met: steady.writes === converged.writes,
    },
  );
  table.addRow([
    `API requests in ${STEADY_MS / 1000} s of steady state (watches excluded)`,
    String(steady.requests - converged.requests),
  ]);
  console.log(
    `\noperator, ${N} channels, concurrency ${CONCURRENCY}, on a real kube-apiserver ${kube.server} (NODE_OPTIONS: ${operatorEnv('', 0, '', '').NODE_OPTIONS})`,
  );
  table.print((line) => console.log(line));
} finally {
  await running.stop();
  await rm(compileCache, { recursive: true, force: true });
}

/** Writes per channel by kind, from the operator's wa_operator_api_writes_total. */
function writeKinds(metricsText: string, channels: number): string {
  return [
    ...metricsText.matchAll(/^wa_operator_api_writes_total\{[^}]*kind="([^"]+)"[^}]*\} (\d+(?:\.\d+)?)/gm),
  ]
    .map((m) => `${m[1]} ${(Number(m[2]) / channels).toFixed(2)}`)
    .join(', ');
}

/** Runs `work` for 0..count-1, `lanes` at a time: a client with that many requests in flight. */
async function inLanes(count: number, lanes: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

/** A limiter: the tasks given to it run at most `max` at a time, in the order given. */
function limitTo(max: number): (task: () => Promise<void>) => Promise<void> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (running >= max) await new Promise<void>((r) => waiting.push(r));
    else running++;
    try {
      await task();
    } finally {
      // The slot passes straight to the next waiting task, or is freed.
      const nextTask = waiting.shift();
      if (nextTask) nextTask();
      else running--;
    }
  };
}
