import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';
import { eventually } from '../../harness/eventually.ts';
import {
  ciValues,
  configFrom,
  ensureNamespace,
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
 * K1 (docs/security.md): a namespace may only create channels of its own clinic. The chart's
 * ValidatingAdmissionPolicy is installed for real on the real API server, bound only to this
 * file's namespaces (its namespaceSelector value) so that the other test files sharing the API
 * server are not affected, and channels are created against it (server-side dry run: admission
 * runs in full, and no operator of another test file ever sees these channels).
 */
const run = unique('vap');
const release = unique('wa-admission');
const selectorLabel = `wa-test-admission=${run}`;
const namespaces = {
  clinicA: `${run}-clinic-a`,
  unlabelled: `${run}-unlabelled`,
};
let installed: K8sObject[] = [];

const channel = (namespace: string, clinicId: string, name = 'front-desk', image?: string): K8sObject =>
  ({
    apiVersion: 'whatsapp.clinic.dev/v1alpha1',
    kind: 'WhatsAppChannel',
    metadata: { name, namespace },
    spec: { clinicId, channelId: name, pairing: 'qr', ...(image ? { worker: { image } } : {}) },
  }) as unknown as K8sObject;
/** The chart's default worker repository (ci/minimal-values.yaml keeps it), so the default allow-list. */
const workerRepository = 'registry.example.com/whatsapp/whatsapp-worker';
const digest = `sha256:${'c'.repeat(64)}`;
const imageRefusal = (image: string) =>
  `spec.worker.image ${image} is not from a repository this platform allows (${workerRepository})`;

const create = async (obj: K8sObject) =>
  kubectl('create', '--dry-run=server', '-f', await manifestFile(`${obj.metadata.namespace}-wac`, [obj]));

beforeAll(async () => {
  await applyCrds();
  await ensureNamespace(namespaces.clinicA, [selectorLabel, 'whatsapp.clinic.dev/clinic=clinic-a']);
  await ensureNamespace(namespaces.unlabelled, [selectorLabel]);
  const { objects } = await renderChart(release, 'whatsapp-system', [
    '-f',
    ciValues('minimal'),
    '--set',
    `admissionPolicy.namespaceSelector.matchLabels.wa-test-admission=${run}`,
  ]);
  installed = objects.filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy'));
  expect(installed.map((o) => o.kind).sort()).toEqual([
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicyBinding',
  ]);
  await kubectl('apply', '-f', await manifestFile(`${run}-policy`, installed));
  // The API server loads a new policy and binding asynchronously: wait until it refuses.
  await eventually(
    'the policy is enforced',
    async () => {
      const outcome = await failure(create(channel(namespaces.clinicA, 'clinic-b', 'probe'))).catch(
        () => 'admitted',
      );
      return outcome.includes('is not the clinic of namespace');
    },
    30_000,
  );
});

afterAll(async () => {
  for (const o of installed) await kubectl('delete', o.kind, o.metadata.name, '--ignore-not-found');
});

test('a channel of the namespace’s own clinic is admitted', async () => {
  const { stdout } = await create(channel(namespaces.clinicA, 'clinic-a'));
  expect(stdout).toContain('whatsappchannel.whatsapp.clinic.dev/front-desk created (server dry run)');
});

test('a channel of another clinic is refused by the API server, with the rule in the message', async () => {
  const refused = await failure(create(channel(namespaces.clinicA, 'clinic-b')));
  expect(refused).toContain(
    `spec.clinicId clinic-b is not the clinic of namespace ${namespaces.clinicA} (whatsapp.clinic.dev/clinic=clinic-a): a namespace may only create channels of its own clinic`,
  );
  expect(refused).toContain('denied request');
});

test('a namespace without the clinic label may hold no channel', async () => {
  const refused = await failure(create(channel(namespaces.unlabelled, 'clinic-a')));
  expect(refused).toContain(`namespace ${namespaces.unlabelled} has no label whatsapp.clinic.dev/clinic`);
  expect(refused).toContain(
    `kubectl label namespace ${namespaces.unlabelled} whatsapp.clinic.dev/clinic=<clinicId>`,
  );
});

test('K4: a worker image from the allowed repository, with any tag or digest, is admitted', async () => {
  for (const [i, image] of [
    `${workerRepository}:1.5.0`,
    `${workerRepository}@${digest}`,
    `${workerRepository}:1.5.0@${digest}`,
  ].entries()) {
    const { stdout } = await create(channel(namespaces.clinicA, 'clinic-a', `allowed-${i}`, image));
    expect(stdout).toContain(`whatsappchannel.whatsapp.clinic.dev/allowed-${i} created (server dry run)`);
  }
});

test('K4: any other image is refused by the API server, naming the allowed repositories', async () => {
  for (const image of [
    'docker.io/mallory/whatsapp-worker:latest',
    `${workerRepository}-debug:1`,
    `${workerRepository}/sub:1`,
    'registry.example.com:5000/whatsapp/whatsapp-worker:1',
  ]) {
    const refused = await failure(create(channel(namespaces.clinicA, 'clinic-a', 'foreign', image)));
    expect(refused).toContain(imageRefusal(image));
    expect(refused).toContain('denied request');
  }
});

test('K4: an update that changes the image is checked too; one that keeps it is not refused', async () => {
  // A real channel (nothing watches this namespace): updates need one that exists.
  await kubectl(
    'create',
    '-f',
    await manifestFile(`${run}-existing`, [channel(namespaces.clinicA, 'clinic-a', 'existing')]),
  );
  const patch = (spec: unknown) =>
    kubectl(
      'patch',
      'wac',
      'existing',
      '-n',
      namespaces.clinicA,
      '--type=merge',
      '--dry-run=server',
      '-p',
      JSON.stringify({ spec }),
    );
  const foreign = 'ghcr.io/mallory/whatsapp-worker:1';
  expect(await failure(patch({ worker: { image: foreign } }))).toContain(imageRefusal(foreign));
  expect((await patch({ worker: { image: `${workerRepository}:2` } })).stdout).toContain('patched');
  // Not the image: the clinic rule is for CREATE only, so the operator's own updates go through.
  expect((await patch({ suspend: true })).stdout).toContain('patched');
});

test('K4: the operator and the policy get one list: worker.allowedRepositories, else the worker repository', async () => {
  const render = (...set: string[]) =>
    renderChart('repos', 'whatsapp-system', ['-f', ciValues('minimal'), ...set.flatMap((s) => ['--set', s])]);
  const policyText = (objects: K8sObject[]) => JSON.stringify(find(objects, 'ValidatingAdmissionPolicy'));
  const byDefault = (await render()).objects;
  expect(configFrom(plainEnv(operatorContainer(find(byDefault, 'Deployment')))).worker).toMatchObject({
    allowedRepositories: [workerRepository],
    simulator: undefined,
  });
  const listed = (
    await render(
      'worker.allowedRepositories={ghcr.io/acme/whatsapp-worker,mirror.internal:5000/wa/worker}',
      'worker.simulator.url=ws://wa-sim.test:9000/ws/chat',
      'worker.simulator.trustRoot=/etc/wa-sim/root.hex',
    )
  ).objects;
  expect(configFrom(plainEnv(operatorContainer(find(listed, 'Deployment')))).worker).toMatchObject({
    allowedRepositories: ['ghcr.io/acme/whatsapp-worker', 'mirror.internal:5000/wa/worker'],
    simulator: { url: 'ws://wa-sim.test:9000/ws/chat', trustRoot: '/etc/wa-sim/root.hex' },
  });
  expect(policyText(listed)).toContain(String.raw`r'^ghcr\\.io/acme/whatsapp-worker(:`);
  expect(policyText(listed)).toContain(String.raw`r'^mirror\\.internal:5000/wa/worker(:`);
  expect(policyText(listed)).toContain(
    'allows (ghcr.io/acme/whatsapp-worker, mirror.internal:5000/wa/worker)',
  );
  expect(policyText(listed)).not.toContain(workerRepository);
  // A tag or a wildcard is no repository: the install stops before anything is applied.
  for (const bad of ['ghcr.io/acme/whatsapp-worker:1.4.0', 'ghcr.io/acme/*'])
    expect(await failure(render(`worker.allowedRepositories={${bad}}`))).toContain('allowedRepositories');
});

test('admissionPolicy.enforce=false ships the policy without its binding; enabled=false ships neither', async () => {
  const kinds = async (...set: string[]) =>
    (
      await renderChart('off', 'whatsapp-system', [
        '-f',
        ciValues('minimal'),
        ...set.flatMap((s) => ['--set', s]),
      ])
    ).objects
      .map((o) => o.kind)
      .filter((k) => k.startsWith('ValidatingAdmissionPolicy'));
  expect(await kinds()).toEqual(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
  expect(await kinds('admissionPolicy.enforce=false')).toEqual(['ValidatingAdmissionPolicy']);
  expect(await kinds('admissionPolicy.enabled=false')).toEqual([]);
});

test('the kustomize base ships the same rule as the chart', async () => {
  const base = parseManifests((await kubectl('kustomize', join(repoRoot, 'deploy/base'))).stdout);
  const fromBase = find(base, 'ValidatingAdmissionPolicy') as K8sObject & { spec: unknown };
  const fromChart = find(installed, 'ValidatingAdmissionPolicy') as K8sObject & { spec: unknown };
  expect(fromBase.spec).toEqual(fromChart.spec);
  const binding = find(base, 'ValidatingAdmissionPolicyBinding') as K8sObject & {
    spec: { policyName: string };
  };
  expect(binding.spec.policyName).toBe(fromBase.metadata.name);
});
