import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { kubeconfigYaml } from '../../harness/servers/kubernetes.ts';
import { eventually } from '../../harness/eventually.ts';
import { freePort } from '../../harness/ports.ts';
import { spawnNode, type NodeChild } from '../../harness/node-process.ts';
import { testStack } from '../../harness/stack.ts';
import {
  applyChannel,
  prepareNamespace,
  publishStatus,
  RUNNING,
  setPodStatus,
} from '../operator/fixtures.ts';
import {
  ciValues,
  find,
  kubectl,
  manifestFile,
  operatorContainer,
  plainEnv,
  renderChart,
  unique,
  type K8sObject,
} from './packaging.ts';

/**
 * The chart's RBAC is exactly what the operator needs: the real operator process, run with a
 * token of the chart's ServiceAccount bound by the chart's own (Cluster)Role(Binding)s,
 * reconciles a channel into a pod and a status, writes Events and its Lease, and deletes; and
 * `kubectl auth can-i` shows it can do nothing else (above all, never read a Secret).
 */
const stack = testStack();
const operatorNs = unique('wa-operator');
const channelNs = unique('wa-rbac');
const release = unique('rbac');
const children: NodeChild[] = [];
let nc: NatsConnection;
let objects: K8sObject[];
let serviceAccount: string;
let user: string;

/** `as` '' asks as the caller itself. `resource` is TYPE, TYPE/NAME, or TYPE:SUBRESOURCE (can-i reads TYPE/x as a name). */
const canI = async (as: string, verb: string, resource: string, scope: string[]): Promise<boolean> => {
  const [type, subresource] = resource.split(':') as [string, string | undefined];
  const sub = subresource ? [`--subresource=${subresource}`] : [];
  try {
    await kubectl('auth', 'can-i', verb, type, ...sub, ...(as ? [`--as=${as}`] : []), ...scope);
    return true;
  } catch (err) {
    if ((err as { stdout?: string }).stdout?.trim() === 'no') return false;
    throw err;
  }
};

beforeAll(async () => {
  nc = await connect({ servers: stack.nats.url });
  // A clinic's namespace, labelled with its clinic (the clinic rule, on by default in the chart).
  await prepareNamespace(kubectl, channelNs, ['whatsapp.clinic.dev/clinic=clinic-rbac']);
  await kubectl('create', 'namespace', operatorNs);
  // Plain NATS mode (ci/plain-nats-values.yaml): this run's nats-server has no authentication, and
  // the issuer keys the default mode mounts do not exist here. The RBAC is the same in both modes.
  ({ objects } = await renderChart(release, operatorNs, [
    '-f',
    ciValues('plain-nats'),
    '--set',
    's3.bucket=wa-rbac',
    '--set',
    'kms.keyId=alias/wa-rbac',
  ]));
  // Apply for real exactly what the chart says about identity and permissions.
  const rbacKinds = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];
  const rbac = objects.filter((o) => rbacKinds.includes(o.kind));
  await kubectl('apply', '-f', await manifestFile(`${release}-rbac`, rbac));
  serviceAccount = find(objects, 'ServiceAccount').metadata.name;
  user = `system:serviceaccount:${operatorNs}:${serviceAccount}`;
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
  await nc?.close();
});

test("the real operator, with only the chart ServiceAccount's token, reconciles, reports, and deletes", async () => {
  const token = (
    await kubectl('create', 'token', serviceAccount, '-n', operatorNs, '--duration=1h')
  ).stdout.trim();
  const kubeconfig = join(stack.workDir, `${release}.kubeconfig`);
  await writeFile(kubeconfig, kubeconfigYaml(stack.kube.server, stack.kube.caFile, token, serviceAccount), {
    mode: 0o600,
  });
  // The chart's own operator environment, pointed at this run's servers and namespace.
  const env = plainEnv(operatorContainer(find(objects, 'Deployment')));
  const port = await freePort();
  const operator = spawnNode('operator/src/main.ts', {
    ...env,
    KUBECONFIG: kubeconfig,
    NATS_URL: stack.nats.url,
    WA_WATCH_NAMESPACE: channelNs,
    POD_NAME: `${release}-0`,
    POD_NAMESPACE: operatorNs,
    WA_HTTP_PORT: String(port),
  });
  children.push(operator);
  const get = async <T>(kind: string, name: string, ns = channelNs) =>
    JSON.parse((await kubectl('get', kind, name, '-n', ns, '-o', 'json')).stdout) as T;

  await eventually('the operator to lead (Lease create + update)', async () =>
    operator.logs().includes('became the leader'),
  );
  await applyChannel(kubectl, stack.workDir, channelNs, 'front-desk', { clinicId: 'clinic-rbac' });
  const pod = await eventually('the worker pod', () => get<V1Pod>('pod', 'wa-front-desk'));
  expect(pod.spec!.serviceAccountName).toBe('whatsapp-worker');
  await eventually('finalizer and Pending status', async () => {
    const wac = await get<WhatsAppChannel>('wac', 'front-desk');
    return wac.metadata.finalizers?.length === 1 && wac.status?.phase === 'Pending';
  });

  // The kubelet and the worker report; the operator writes the phases, and Events for the QR code
  // to scan and the pairing (a routine start with a saved session makes none).
  await setPodStatus(kubectl, pod, RUNNING);
  publishStatus(nc, pod, 'QRRequired', 1, { reason: 'AwaitingQRScan' });
  await eventually(
    'QRRequired',
    async () => (await get<WhatsAppChannel>('wac', 'front-desk')).status?.phase === 'QRRequired',
  );
  publishStatus(nc, pod, 'Connected', 2, { account: '5511900000000@s.whatsapp.net' });
  await eventually('Connected and Ready', async () => {
    const wac = await get<WhatsAppChannel>('wac', 'front-desk');
    return (
      wac.status?.phase === 'Connected' &&
      wac.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
    );
  });
  const reasons = await eventually('the Events of the QR code and the pairing', async () => {
    const list = JSON.parse(
      (
        await kubectl(
          'get',
          'events',
          '-n',
          channelNs,
          '--field-selector',
          'involvedObject.name=front-desk',
          '-o',
          'json',
        )
      ).stdout,
    ) as { items: Array<{ reason: string }> };
    const r = list.items.map((e) => e.reason);
    return r.includes('QRRequired') && r.includes('Connected') && r;
  });
  expect(reasons).not.toContain('Pending');

  // Deletion: the operator deletes the pod and releases its finalizer.
  await kubectl('delete', 'wac', 'front-desk', '-n', channelNs, '--wait=false');
  await eventually('the channel and its pod gone', async () => {
    const left = (await kubectl('get', 'wac,pods', '-n', channelNs, '-o', 'name')).stdout.trim();
    return left === '';
  });

  operator.kill('SIGTERM');
  expect(await operator.exited).toBe(0); // the Lease was released with its update permission
  expect(operator.logs()).not.toMatch(/forbidden|\b403\b/i);
});

describe('kubectl auth can-i', () => {
  const inChannels = () => ['-n', channelNs];
  const inOperator = () => ['-n', operatorNs];
  const everywhere = () => ['--all-namespaces'];
  const clusterWide = () => [];

  test('the operator may do exactly what it needs', async () => {
    const allowed: [string, string, () => string[]][] = [
      ['list', 'whatsappchannels.whatsapp.clinic.dev', everywhere],
      ['watch', 'whatsappchannels.whatsapp.clinic.dev', everywhere],
      ['patch', 'whatsappchannels.whatsapp.clinic.dev', inChannels],
      ['patch', 'whatsappchannels.whatsapp.clinic.dev:status', inChannels],
      ['list', 'pods', everywhere],
      ['watch', 'pods', everywhere],
      ['create', 'pods', inChannels],
      ['delete', 'pods', inChannels],
      ['create', 'events', inChannels],
      ['create', 'secrets', inChannels],
      ['patch', 'secrets', inChannels],
      // The clinic rule reads namespaces' labels.
      ['list', 'namespaces', clusterWide],
      ['watch', 'namespaces', clusterWide],
      ['get', `namespaces/${channelNs}`, clusterWide],
      ['create', 'leases.coordination.k8s.io', inOperator],
      ['get', 'leases.coordination.k8s.io/whatsapp-operator-leader', inOperator],
      ['update', 'leases.coordination.k8s.io/whatsapp-operator-leader', inOperator],
    ];
    for (const [verb, resource, scope] of allowed)
      expect([verb, resource, await canI(user, verb, resource, scope())]).toEqual([verb, resource, true]);
  });

  test('the operator can read no Secret anywhere, and do nothing else', async () => {
    const denied: [string, string, () => string[]][] = [
      ...['get', 'list', 'watch'].flatMap((verb): [string, string, () => string[]][] => [
        [verb, 'secrets', inChannels],
        [verb, 'secrets', inOperator],
        [verb, 'secrets', () => ['-n', 'kube-system']],
        [verb, 'secrets', everywhere],
      ]),
      ['update', 'secrets', inChannels],
      // A channel's Secrets go with it (owner reference): the operator never deletes one itself.
      ['delete', 'secrets', inChannels],
      ['get', 'whatsappchannels.whatsapp.clinic.dev', inChannels],
      ['create', 'whatsappchannels.whatsapp.clinic.dev', inChannels],
      ['update', 'whatsappchannels.whatsapp.clinic.dev', inChannels],
      ['delete', 'whatsappchannels.whatsapp.clinic.dev', inChannels],
      ['update', 'whatsappchannels.whatsapp.clinic.dev:status', inChannels],
      ['get', 'pods', inChannels],
      ['update', 'pods', inChannels],
      ['patch', 'pods', inChannels],
      ['create', 'pods:exec', inChannels],
      ['get', 'pods:log', inChannels],
      ['create', 'pods:eviction', inChannels],
      ['patch', 'pods:status', inChannels],
      ['list', 'events', inChannels],
      ['delete', 'events', inChannels],
      ['get', 'leases.coordination.k8s.io/kube-controller-manager', inOperator],
      ['update', 'leases.coordination.k8s.io/some-other-lease', inOperator],
      ['delete', 'leases.coordination.k8s.io/whatsapp-operator-leader', inOperator],
      ['create', 'leases.coordination.k8s.io', inChannels],
      ['get', 'configmaps', inChannels],
      ['create', 'serviceaccounts:token', inChannels],
      ['create', 'deployments.apps', inOperator],
      ['create', 'namespaces', clusterWide],
      ['update', `namespaces/${channelNs}`, clusterWide],
      ['patch', `namespaces/${channelNs}`, clusterWide],
      ['delete', `namespaces/${channelNs}`, clusterWide],
      ['get', 'nodes', clusterWide],
      ['update', 'customresourcedefinitions.apiextensions.k8s.io', clusterWide],
      ['bind', 'clusterroles.rbac.authorization.k8s.io', clusterWide],
      ['escalate', 'clusterroles.rbac.authorization.k8s.io', clusterWide],
      ['impersonate', 'users', clusterWide],
      ['*', '*', everywhere],
    ];
    for (const [verb, resource, scope] of denied)
      expect([verb, resource, await canI(user, verb, resource, scope())]).toEqual([verb, resource, false]);
  });

  test('the check can fail: the test admin (no --as) may read Secrets', async () => {
    expect(await canI('', 'get', 'secrets', ['-n', channelNs])).toBe(true);
  });

  test("the workers' ServiceAccount has no API access at all", async () => {
    const worker = `system:serviceaccount:${channelNs}:whatsapp-worker`;
    for (const [verb, resource] of [
      ['get', 'secrets'],
      ['list', 'pods'],
      ['get', 'whatsappchannels.whatsapp.clinic.dev'],
      ['create', 'events'],
      ['get', 'leases.coordination.k8s.io'],
      ['get', 'configmaps'],
    ] as const)
      expect([verb, resource, await canI(worker, verb, resource, inChannels())]).toEqual([
        verb,
        resource,
        false,
      ]);
  });

  test('with operator.watchNamespace the chart grants a Role in that namespace only', async () => {
    const { objects: scoped } = await renderChart(unique('scoped'), operatorNs, [
      '--set',
      's3.bucket=wa-rbac',
      '--set',
      'kms.keyId=alias/wa-rbac',
      '--set',
      `operator.watchNamespace=${channelNs}`,
    ]);
    expect(scoped.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toBe(false);
    const role = scoped.find((o) => o.kind === 'Role' && o.metadata.namespace === channelNs);
    const clusterRole = find(objects, 'ClusterRole') as K8sObject & { rules: unknown };
    expect(role).toMatchObject({ rules: clusterRole.rules });
    expect(scoped.find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === channelNs)).toMatchObject({
      roleRef: { kind: 'Role', name: role!.metadata.name },
      subjects: [{ kind: 'ServiceAccount', namespace: operatorNs }],
    });
    // Applied for real: the Role lets the operator read its own namespace (the clinic rule reads
    // its label by name), and no other namespace, nor list or watch namespaces.
    const scopedRbac = scoped.filter(
      (o) => (o.kind === 'Role' || o.kind === 'RoleBinding') && o.metadata.namespace === channelNs,
    );
    await kubectl('apply', '-f', await manifestFile(`${release}-scoped-rbac`, scopedRbac));
    const scopedUser = `system:serviceaccount:${operatorNs}:${find(scoped, 'ServiceAccount').metadata.name}`;
    expect(await canI(scopedUser, 'get', `namespaces/${channelNs}`, inChannels())).toBe(true);
    expect(await canI(scopedUser, 'get', `namespaces/${operatorNs}`, inOperator())).toBe(false);
    expect(await canI(scopedUser, 'list', 'namespaces', clusterWide())).toBe(false);
    expect(await canI(scopedUser, 'watch', 'namespaces', clusterWide())).toBe(false);
  });
});

test('the chart ClusterRole is exactly the documented table', () => {
  expect((find(objects, 'ClusterRole') as K8sObject & { rules: unknown }).rules).toEqual([
    {
      apiGroups: ['whatsapp.clinic.dev'],
      resources: ['whatsappchannels'],
      verbs: ['list', 'watch', 'patch'],
    },
    { apiGroups: ['whatsapp.clinic.dev'], resources: ['whatsappchannels/status'], verbs: ['patch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch', 'create', 'delete'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['create', 'patch'] },
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
  ]);
});

test('with admissionPolicy.enforce=false the operator neither checks nor reads namespaces', async () => {
  const { objects: off } = await renderChart(unique('single-team'), operatorNs, [
    '--set',
    's3.bucket=wa-rbac',
    '--set',
    'kms.keyId=alias/wa-rbac',
    '--set',
    'admissionPolicy.enforce=false',
  ]);
  expect(plainEnv(operatorContainer(find(off, 'Deployment'))).WA_CLINIC_NAMESPACE_CHECK).toBe('false');
  const rules = (find(off, 'ClusterRole') as K8sObject & { rules: { resources: string[] }[] }).rules;
  expect(rules.flatMap((r) => r.resources)).not.toContain('namespaces');
  expect(plainEnv(operatorContainer(find(objects, 'Deployment'))).WA_CLINIC_NAMESPACE_CHECK).toBe('true');
});
