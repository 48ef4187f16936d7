import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { startController, type Controller } from '../../../operator/src/controller/controller.ts';
import { loadKubeConnection } from '../../../operator/src/kube/connection.ts';
import type { ManagedProcess } from '../../harness/process.ts';
import { startEtcd } from '../../harness/servers/etcd.ts';
import { startKubernetes } from '../../harness/servers/kubernetes.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { applyChannel, prepareNamespace, testConfig } from './fixtures.ts';

/**
 * A control plane of its own (so restarting it disturbs no other test): the operator
 * survives a kube-apiserver restart mid-run without losing or duplicating pods.
 */
const run = promisify(execFile);
const stack = testStack();
const ns = 'restart';
let processes: ManagedProcess[] = [];
let kubeconfig = '';
let controller: Controller | undefined;
let nc: NatsConnection | undefined;
const kubectl = (...args: string[]) => run(stack.bins.kubectl, ['--kubeconfig', kubeconfig, ...args]);

const channel = (name: string) => applyChannel(kubectl, stack.workDir, ns, name, { clinicId: 'clinic-r' });
const podNames = async () =>
  (
    await kubectl('get', 'pods', '-n', ns, '-o', 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}')
  ).stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .sort();

beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kube-restart-'));
  const etcd = await startEtcd(stack.bins.etcd, dir);
  const kube = await startKubernetes(
    { kubeApiserver: stack.bins.kubeApiserver, kubeControllerManager: stack.bins.kubeControllerManager },
    etcd.url,
    dir,
  );
  processes = [...kube.processes, etcd.process];
  kubeconfig = kube.info.kubeconfig;
  await prepareNamespace(kubectl, ns);
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  nc = await connect({ servers: stack.nats.url });
  controller = await startController(
    await loadKubeConnection({ kubeconfig: kubeconfig }),
    testConfig({ WA_WATCH_NAMESPACE: ns, NATS_URL: stack.nats.url }),
    nc,
    pino({ level: 'silent' }),
  );
});
afterAll(async () => {
  await controller?.stop();
  await nc?.close();
  for (const p of processes) await p.stop();
});

const podUids = async () =>
  Object.fromEntries(
    JSON.parse((await kubectl('get', 'pods', '-n', ns, '-o', 'json')).stdout).items.map(
      (p: { metadata: { name: string; uid: string } }) => [p.metadata.name, p.metadata.uid],
    ),
  );

test('a kube-apiserver restart mid-run loses and duplicates nothing', async () => {
  const names = Array.from({ length: 12 }, (_, i) => `ch-${String(i).padStart(2, '0')}`);
  // Mid-run: the API server goes away while the operator is still creating these pods.
  await Promise.all(names.map((name) => channel(name)));
  const apiserver = processes.find((p) => p.name === 'kube-apiserver')!;
  const watchesBefore = controller!.channels.stats.watches;
  processes[processes.indexOf(apiserver)] = await apiserver.restart();
  await eventually(
    'one pod per channel',
    async () => (await podNames()).join() === names.map((n) => `wa-${n}`).join(),
  );
  // The caches noticed the dropped watches and resumed them against the new API server process.
  await eventually('the watches to resume', async () => controller!.channels.stats.watches > watchesBefore);

  // Changes after the restart are seen: a new channel, a deleted pod.
  const before = await podUids();
  await channel('late');
  await kubectl('delete', 'pod', 'wa-ch-00', '-n', ns, '--wait=false');
  const expected = [...names, 'late'].map((n) => `wa-${n}`).sort();
  await eventually('the new pod and the replaced one', async () => {
    const uids = await podUids();
    return Object.keys(uids).sort().join() === expected.join() && uids['wa-ch-00'] !== before['wa-ch-00'];
  });
  // And it stays that way: nothing duplicated by replayed events, no other pod replaced.
  await new Promise((r) => setTimeout(r, 2_000));
  const after = await podUids();
  expect(Object.keys(after).sort()).toEqual(expected);
  for (const n of names.slice(1)) expect(after[`wa-${n}`]).toBe(before[`wa-${n}`]);
});
