import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';
import { eventually } from '../../harness/eventually.ts';
import {
  ciValues,
  ensureNamespace,
  failure,
  find,
  kubectl,
  manifestFile,
  parseManifests,
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

const channel = (namespace: string, clinicId: string, name = 'front-desk'): K8sObject =>
  ({
    apiVersion: 'whatsapp.clinic.dev/v1alpha1',
    kind: 'WhatsAppChannel',
    metadata: { name, namespace },
    spec: { clinicId, channelId: name, pairing: 'qr' },
  }) as unknown as K8sObject;

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
