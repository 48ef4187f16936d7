import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { parseOperatorConfig } from '../../../operator/src/config.ts';
import { startController, type Controller } from '../../../operator/src/controller.ts';
import type { ManagedProcess } from '../../harness/process.ts';
import { startEtcd } from '../../harness/servers/etcd.ts';
import { startKubernetes } from '../../harness/servers/kubernetes.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { applyChannel, prepareNamespace } from './fixtures.ts';

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
  const parsed = parseOperatorConfig({
    WA_WATCH_NAMESPACE: ns,
    NATS_URL: stack.nats.url,
    WA_WORKER_IMAGE: 'w',
    WA_S3_BUCKET: 'b',
    WA_KMS_KEY_ID: 'k',
  });
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  controller = await startController(kc, parsed.config, nc, pino({ level: 'silent' }));
});
afterAll(async () => {
  controller?.stop();
  await nc?.close();
  for (const p of processes) await p.stop();
});

test('a kube-apiserver restart mid-run loses and duplicates nothing', async () => {
  for (const name of ['a', 'b', 'c']) await channel(name);
  await eventually('three pods', async () => (await podNames()).length === 3);

  const apiserver = processes.find((p) => p.name === 'kube-apiserver')!;
  const relistsBefore = controller!.channels.relists;
  processes[processes.indexOf(apiserver)] = await apiserver.restart();
  // The caches notice the dropped watches and relist against the new API server process.
  await eventually('the caches to relist', async () => controller!.channels.relists > relistsBefore);

  await channel('d');
  await kubectl('delete', 'pod', 'wa-a', '-n', ns, '--wait=false');
  await eventually('four pods, one per channel', async () => {
    const names = await podNames();
    return names.join(',') === 'wa-a,wa-b,wa-c,wa-d';
  });
  // And it stays that way: nothing duplicated by replayed events.
  await new Promise((r) => setTimeout(r, 2_000));
  expect(await podNames()).toEqual(['wa-a', 'wa-b', 'wa-c', 'wa-d']);
});
