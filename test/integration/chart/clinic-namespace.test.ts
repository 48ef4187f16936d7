import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { buildWorkerPod } from '../../../operator/src/pod.ts';
import { repoRoot } from '../../harness/paths.ts';
import {
  ciValues,
  configFrom,
  failure,
  find,
  kubectl,
  manifestFile,
  operatorContainer,
  parseManifests,
  plainEnv,
  renderChart,
  unique,
  type K8sObject,
  applyCrds,
} from './packaging.ts';

/**
 * deploy/examples/clinics: a clinic namespace (PodSecurity `restricted`, ResourceQuota, the
 * workers' ServiceAccount and NetworkPolicy) applied for real, and the worker pods the
 * operator builds for the example channels admitted there by the real API server, with the
 * operator configured as the chart configures it.
 */
const clinics = [
  { example: 'clinic-a', channel: 'channel-qr.yaml' },
  { example: 'clinic-b', channel: 'channel-code.yaml' },
];
const namespaces = new Map<string, string>();

/** The example's objects, moved into a namespace of this run (same content otherwise). */
async function example(file: string, from: string, to: string): Promise<K8sObject[]> {
  const objects = parseManifests(await readFile(join(repoRoot, file), 'utf8'));
  for (const o of objects) {
    if (o.kind === 'Namespace') o.metadata.name = to;
    else if (o.metadata.namespace === from) o.metadata.namespace = to;
  }
  return objects;
}

/** The worker pod the operator (configured by the chart's full values) builds for a channel. */
async function workerPod(channel: WhatsAppChannel): Promise<V1Pod> {
  const { objects } = await renderChart('admission', 'whatsapp-system', ['-f', ciValues('full')]);
  const config = configFrom(plainEnv(operatorContainer(find(objects, 'Deployment'))));
  return buildWorkerPod({ ...channel, metadata: { ...channel.metadata, uid: randomUUID() } }, config);
}

beforeAll(async () => {
  await applyCrds();
  for (const { example: name } of clinics) {
    const ns = unique(name);
    namespaces.set(name, ns);
    const objects = await example(`deploy/examples/clinics/${name}.yaml`, name, ns);
    await kubectl('apply', '-f', await manifestFile(ns, objects));
    // The harness runs no resource-quota controller, and the API server enforces a quota only
    // once its status carries the limits: play that controller, as tests play the kubelet.
    const quota = find(objects, 'ResourceQuota') as K8sObject & { spec: { hard: Record<string, string> } };
    const used = Object.fromEntries(Object.keys(quota.spec.hard).map((k) => [k, '0']));
    await kubectl(
      'patch',
      'resourcequota',
      quota.metadata.name,
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { hard: quota.spec.hard, used } }),
    );
  }
});

test.each(clinics)('$example: the namespace enforces PodSecurity restricted', async ({ example: name }) => {
  const ns = JSON.parse((await kubectl('get', 'namespace', namespaces.get(name)!, '-o', 'json')).stdout);
  expect(ns.metadata.labels).toMatchObject({
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': 'latest',
  });
});

test.each(clinics)(
  '$example: its example channel ($channel) and the worker pod the operator builds for it are admitted',
  async ({ example: name, channel: file }) => {
    const ns = namespaces.get(name)!;
    const [channel] = (await example(`deploy/examples/${file}`, name, ns)) as unknown as WhatsAppChannel[];
    const channelOut = (
      await kubectl(
        'apply',
        '--dry-run=server',
        '-f',
        await manifestFile(`${ns}-wac`, [channel as unknown as K8sObject]),
      )
    ).stdout;
    expect(channelOut).toContain(
      `whatsappchannel.whatsapp.clinic.dev/${channel!.metadata.name} created (server dry run)`,
    );

    const pod = await workerPod(channel!);
    const { stdout, stderr } = await kubectl(
      'create',
      '--dry-run=server',
      '-o',
      'json',
      '-f',
      await manifestFile(`${ns}-pod`, [pod as unknown as K8sObject]),
    );
    expect(stderr).not.toMatch(/Warning/i); // PodSecurity warn/audit are "restricted" too
    const admitted = JSON.parse(stdout) as V1Pod;
    expect(admitted.metadata!.namespace).toBe(ns);
    expect(admitted.spec!.serviceAccountName).toBe('whatsapp-worker');
    expect(admitted.spec!.automountServiceAccountToken).toBe(false);
  },
);

test('the same namespace refuses a worker pod that breaks restricted, and one above its quota', async () => {
  const ns = namespaces.get('clinic-a')!;
  const [channel] = (await example(
    'deploy/examples/channel-qr.yaml',
    'clinic-a',
    ns,
  )) as unknown as WhatsAppChannel[];
  const pod = await workerPod(channel!);

  const privileged = structuredClone(pod);
  privileged.spec!.containers[0]!.securityContext!.allowPrivilegeEscalation = true;
  delete privileged.spec!.securityContext!.runAsNonRoot;
  const refused = await failure(
    kubectl(
      'create',
      '--dry-run=server',
      '-f',
      await manifestFile(`${ns}-bad`, [privileged as unknown as K8sObject]),
    ),
  );
  expect(refused).toContain('violates PodSecurity "restricted:latest"');
  expect(refused).toContain('allowPrivilegeEscalation != false');

  const greedy = structuredClone(pod);
  greedy.spec!.containers[0]!.resources!.limits!.memory = '64Gi';
  expect(
    await failure(
      kubectl(
        'create',
        '--dry-run=server',
        '-f',
        await manifestFile(`${ns}-big`, [greedy as unknown as K8sObject]),
      ),
    ),
  ).toMatch(/exceeded quota: whatsapp.*limits\.memory/);
});
