import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { API_VERSION, ensureClinicStream, KIND, type WhatsAppChannel } from '../../../contract/index.ts';
import { KubeClient } from '../../../operator/src/kube/client.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import { KubeHttp } from '../../../operator/src/kube/http.ts';
import { ResourceCache } from '../../../operator/src/kube/resource-cache.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { startProduct, type Product } from './product.ts';

/**
 * Staged rollouts on the real API server, with the operator in this process and the process
 * kubelet running 60 channels' pods. The pods run the stand-in worker (stand-in-worker.ts: the
 * worker's status contract on NATS, no WhatsApp session), so that 60 channels fit a 2-core
 * machine; the operator decides each channel's phase from those reports as from a real worker.
 * Image tag `:crashes` is a release that cannot start (exits 1; the kubelet shows
 * CrashLoopBackOff). A new worker release is an operator restart with another WA_WORKER_IMAGE,
 * as `helm upgrade` does it.
 *
 * What is offline when is measured here, from watches of the pods and the channels, ordered by
 * resourceVersion (one etcd: one revision counter for both), never from the operator's counters.
 */
const stack = testStack();
const CLINICS = 6;
const PER_CLINIC = 10;
const OLD = 'registry.example/whatsapp-worker:test';
const CRASHES = 'registry.example/whatsapp-worker:crashes';
const GOOD = 'registry.example/whatsapp-worker:v2';
const POLICY = {
  WA_ROLLOUT_MAX_UNAVAILABLE: '5',
  WA_ROLLOUT_MAX_UNAVAILABLE_PER_CLINIC: '30%', // 3 of a clinic's 10
  WA_ROLLOUT_CANARY: '3',
  WA_ROLLOUT_MAX_FAILED: '0',
  // Generous: on a loaded 2-core machine a start can take long, and a timeout here would halt the
  // good release (the crash-looping one fails by CrashLoopBackOff, not by this).
  WA_ROLLOUT_HEALTH_TIMEOUT_SECONDS: '600',
};
const LABEL = 'whatsapp.clinic.dev/rollout';

let p: Product;
const run = Math.random().toString(36).slice(2, 6);
const clinicOf = (i: number) => `roll-${run}-${String.fromCharCode(97 + (i % CLINICS))}`;
const names = Array.from({ length: CLINICS * PER_CLINIC }, (_, i) => `ch-${i}`);

const channels = async (): Promise<WhatsAppChannel[]> =>
  JSON.parse((await p.kubectl('get', 'wac', '-n', p.ns, '-o', 'json')).stdout).items;
const pods = async (): Promise<V1Pod[]> =>
  JSON.parse((await p.kubectl('get', 'pods', '-n', p.ns, '-o', 'json')).stdout).items;
const imageOf = (pod: V1Pod) => pod.spec!.containers[0]!.image;
const channelOfPod = (pod: V1Pod) => pod.metadata!.ownerReferences![0]!.name;

/**
 * Every channel Connected on a worker of `image`, each pod running (not terminating). Generous
 * time: the process kubelet drives each pod with kubectl, which a loaded 2-core machine slows.
 */
async function allConnectedOn(image: string): Promise<Map<string, V1Pod>> {
  let seen = '';
  return eventually(
    () => `all ${names.length} channels Connected on ${image} (last seen: ${seen})`,
    async () => {
      const [cs, ps] = await Promise.all([channels(), pods()]);
      const live = new Map(ps.filter((x) => !x.metadata!.deletionTimestamp).map((x) => [channelOfPod(x), x]));
      const ok = cs.filter(
        (c) =>
          c.status?.phase === 'Connected' &&
          live.get(c.metadata.name) &&
          imageOf(live.get(c.metadata.name)!) === image,
      );
      const marks = new Map<string, number>();
      for (const c of cs) {
        const m = c.metadata.labels?.[LABEL] ?? 'none';
        marks.set(m, (marks.get(m) ?? 0) + 1);
      }
      seen = `${ok.length} of them; rollout marks ${JSON.stringify(Object.fromEntries(marks))}`;
      return ok.length === names.length ? live : undefined;
    },
    600_000,
  );
}

const marked = async (state: string) =>
  (await channels()).filter((c) => c.metadata.labels?.[LABEL] === state).map((c) => c.metadata.name);

async function metric(name: string): Promise<string> {
  return p.controller().metrics.registry.getSingleMetricAsString(name);
}

/**
 * The offline timeline: every pod and channel change, in resourceVersion order. A channel is
 * online while its pod exists and is not terminating, and its status became Connected after
 * that pod was created: a status write that says Connected with that pod's report. A channel
 * change that leaves the status as it was (a label, an annotation) proves nothing, and a status
 * left over from the old pod does not count.
 */
interface Change {
  rv: number;
  kind: 'pod' | 'channel';
  deleted: boolean;
  obj: V1Pod | WhatsAppChannel;
  statusChanged: boolean;
}

class OfflineMeter {
  private readonly log: Change[] = [];
  private caches: { stop(): void }[] = [];
  private recording = false;

  async start(http: KubeHttp, ns: string): Promise<void> {
    const kube = new KubeClient(http, () => {});
    const record =
      (kind: 'pod' | 'channel') =>
      (obj: V1Pod | WhatsAppChannel, deleted: boolean, previous?: V1Pod | WhatsAppChannel) => {
        if (!this.recording) return;
        const statusChanged = JSON.stringify(obj.status) !== JSON.stringify(previous?.status);
        this.log.push({ rv: Number(obj.metadata!.resourceVersion), kind, deleted, obj, statusChanged });
      };
    const podCache = new ResourceCache<V1Pod>({
      http,
      path: `/api/v1/namespaces/${ns}/pods`,
      list: () => kube.listWorkerPods(ns),
      onChange: record('pod'),
      resyncMs: 3_600_000,
    });
    const channelCache = new ResourceCache<WhatsAppChannel>({
      http,
      path: `/apis/whatsapp.clinic.dev/v1alpha1/namespaces/${ns}/whatsappchannels`,
      list: () => kube.listChannels(ns),
      onChange: record('channel'),
      resyncMs: 3_600_000,
    });
    this.caches = [podCache, channelCache];
    await podCache.start();
    await channelCache.start();
    this.recording = true;
  }

  stop(): void {
    for (const c of this.caches) c.stop();
  }

  /** The most channels offline at once, in the fleet and within one clinic, from `start` (all online). */
  maxOffline(
    start: Map<string, V1Pod>,
    clinicOfChannel: (name: string) => string,
  ): { fleet: number; clinic: number } {
    const state = new Map<
      string,
      { pod?: string; podRv: number; terminating: boolean; connected: boolean }
    >();
    for (const [name, pod] of start)
      state.set(name, { pod: pod.metadata!.uid!, podRv: 0, terminating: false, connected: true });
    let fleet = 0;
    let clinic = 0;
    for (const e of [...this.log].sort((a, b) => a.rv - b.rv)) {
      if (e.kind === 'pod') {
        const pod = e.obj as V1Pod;
        const s = state.get(channelOfPod(pod))!;
        const uid = pod.metadata!.uid!;
        if (e.deleted) {
          if (s.pod === uid) s.pod = undefined;
        } else if (s.pod !== uid) {
          Object.assign(s, { pod: uid, podRv: e.rv, connected: false });
          s.terminating = Boolean(pod.metadata!.deletionTimestamp);
        } else s.terminating = Boolean(pod.metadata!.deletionTimestamp);
      } else {
        const c = e.obj as WhatsAppChannel;
        const s = state.get(c.metadata.name)!;
        if (c.status?.phase !== 'Connected') s.connected = false;
        else if (e.statusChanged && s.pod && e.rv > s.podRv) s.connected = true;
      }
      const offline = [...state].filter(([, s]) => !s.pod || s.terminating || !s.connected).map(([n]) => n);
      fleet = Math.max(fleet, offline.length);
      const byClinic = new Map<string, number>();
      for (const name of offline)
        byClinic.set(clinicOfChannel(name), (byClinic.get(clinicOfChannel(name)) ?? 0) + 1);
      clinic = Math.max(clinic, ...byClinic.values());
    }
    return { fleet, clinic };
  }
}

beforeAll(async () => {
  p = await startProduct('e2e-rollout', POLICY, (pod) => ({
    script: 'test/integration/e2e/stand-in-worker.ts',
    args: [imageOf(pod) === CRASHES ? 'crash' : 'serve'],
  }));
  // The clinics' streams, as their first real worker would create them: the operator reads each
  // channel's last status there after a restart.
  const jsm = await p.nc.jetstreamManager();
  for (let i = 0; i < CLINICS; i++) await ensureClinicStream(jsm, clinicOf(i), 1);
  const file = join(stack.workDir, `${p.ns}-channels.json`);
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: names.map((name, i) => ({
        apiVersion: API_VERSION,
        kind: KIND,
        metadata: { name, namespace: p.ns },
        spec: { clinicId: clinicOf(i), channelId: name },
      })),
    }),
  );
  await p.kubectl('apply', '-f', file);
  await allConnectedOn(OLD);
}, 900_000);
afterAll(async () => p?.stop());

test('a release that crash-loops: the rollout halts after the canary batch, the rest keep their old worker; resume and roll back', async () => {
  const before = await allConnectedOn(OLD);
  await p.restartOperator({ WA_WORKER_IMAGE: CRASHES });

  // The canary (3) fails; nothing else was touched.
  const failed = await eventually(
    'the canary batch failed',
    async () => ((await marked('failed')).length === 3 ? marked('failed') : undefined),
    120_000,
  );
  const halted = await eventually('the RolloutHalted Event', async () => {
    const events = JSON.parse(
      (await p.kubectl('get', 'events', '-n', p.ns, '--field-selector', 'reason=RolloutHalted', '-o', 'json'))
        .stdout,
    ).items as { message: string; involvedObject: { name: string } }[];
    return events[0];
  });
  expect(halted.message).toMatch(/halted: \d channel\(s\) failed .*CrashLoopBackOff/);
  expect(halted.message).toContain(`kubectl label wac -A -l ${LABEL}=failed ${LABEL}=resumed --overwrite`);
  const wac = (await channels()).find((c) => c.metadata.name === failed[0])!;
  expect(JSON.parse(wac.metadata.annotations![LABEL]!).reason).toMatch(/^CrashLoopBackOff/);

  // A new operator (a restart, a leader change) keeps it halted: every other channel is looked at
  // and held back, and keeps its old pod.
  await p.restartOperator({ WA_WORKER_IMAGE: CRASHES });
  await eventually('the 57 other channels held back', async () =>
    (await metric('wa_operator_rollout_channels')).includes('state="waiting"} 57') ? true : undefined,
  );
  expect(await metric('wa_operator_rollout_halted')).toMatch(
    /wa_operator_rollout_halted\{revision="\w+"\} 1/,
  );
  const untouched = (await pods()).filter((x) => !failed.includes(channelOfPod(x)));
  expect(untouched).toHaveLength(57);
  for (const pod of untouched) {
    expect(imageOf(pod)).toBe(OLD);
    expect(pod.metadata!.uid).toBe(before.get(channelOfPod(pod))!.metadata!.uid);
  }

  // Resume (one command): the next batch (the fleet limit, 5) goes, fails, and halts it again.
  await p.kubectl('label', 'wac', '-n', p.ns, '-l', `${LABEL}=failed`, `${LABEL}=resumed`, '--overwrite');
  await eventually(
    'the next batch failed',
    async () => ((await marked('failed')).length === 5 ? true : undefined),
    120_000,
  );
  const crashed = (await pods()).filter((x) => imageOf(x) === CRASHES);
  expect(crashed).toHaveLength(8);

  // Roll back (the previous settings): the crashed ones get the old worker back at once.
  await p.restartOperator({ WA_WORKER_IMAGE: OLD });
  const back = await allConnectedOn(OLD);
  for (const [name, pod] of before)
    if (!crashed.some((x) => channelOfPod(x) === name))
      expect(back.get(name)!.metadata!.uid).toBe(pod.metadata!.uid);
  expect(await marked('failed')).toEqual([]);
}, 900_000);

test('a good release: every channel replaced, never more than the limits offline at once (measured from watches)', async () => {
  const before = await allConnectedOn(OLD);
  const http = new KubeHttp(await loadKubeConnection({ kubeconfig: stack.kube.kubeconfig }));
  const meter = new OfflineMeter();
  await meter.start(http, p.ns);
  try {
    await p.restartOperator({ WA_WORKER_IMAGE: GOOD });
    const after = await allConnectedOn(GOOD);
    for (const [name, pod] of after) expect(pod.metadata!.uid).not.toBe(before.get(name)!.metadata!.uid);
    const clinicOfName = (name: string) => clinicOf(Number(name.slice(3)));
    const offline = meter.maxOffline(before, clinicOfName);
    process.stderr.write(
      `[rollout] most channels offline at once: ${offline.fleet} of the fleet (limit 5), ${offline.clinic} of one clinic (limit 3)\n`,
    );
    expect(offline.fleet).toBeLessThanOrEqual(5);
    expect(offline.clinic).toBeLessThanOrEqual(3);
    // The meter saw replacements overlap (it measures something).
    expect(offline.fleet).toBeGreaterThanOrEqual(2);
    await eventually(
      'every channel marked done',
      async () => ((await marked('done')).length === names.length ? true : undefined),
      60_000,
    );
  } finally {
    meter.stop();
  }
}, 900_000);
