import { join } from 'node:path';
import type { V1ConfigMap, V1Deployment } from '@kubernetes/client-node';
import { helpText } from '../../../operator/src/config.ts';
import { repoRoot } from '../../harness/paths.ts';
import {
  configFrom,
  ensureNamespace,
  find,
  kubectl,
  manifestFile,
  operatorContainer,
  parseManifests,
  renderChart,
  serverDryRun,
  WARN_RESTRICTED,
  type K8sObject,
} from './packaging.ts';

/**
 * deploy/: the kustomize base and each overlay, built by the kustomize inside the real kubectl
 * and admitted by the real API server; their operator configuration accepted by the operator;
 * their RBAC the same as the chart's.
 */
const builds = ['deploy/base', 'deploy/overlays/dev', 'deploy/overlays/production'];

async function build(dir: string): Promise<{ text: string; objects: K8sObject[] }> {
  const { stdout } = await kubectl('kustomize', join(repoRoot, dir));
  return { text: stdout, objects: parseManifests(stdout) };
}

/** The operator's environment: the generated ConfigMap, as `envFrom` gives it. */
function operatorEnv(objects: K8sObject[]): Record<string, string> {
  const container = operatorContainer(find(objects, 'Deployment', 'whatsapp-operator'));
  const configMap = container.envFrom!.find((e) => e.configMapRef)!.configMapRef!.name!;
  return (find(objects, 'ConfigMap', configMap) as unknown as V1ConfigMap).data!;
}

const rules = (o: K8sObject) => (o as unknown as { rules: unknown[] }).rules;

beforeAll(async () => {
  // Namespaced objects are only dry-run admitted into a namespace that exists.
  await ensureNamespace('whatsapp-system', WARN_RESTRICTED);
});

test.each(builds)('%s builds and the API server admits it (server-side dry run)', async (dir) => {
  const { text, objects } = await build(dir);
  const { out, warnings } = await serverDryRun(await manifestFile(dir.replaceAll('/', '-'), text));
  for (const o of objects) {
    const kind = o.kind.toLowerCase();
    expect(out).toMatch(
      new RegExp(`${kind}(\\.[a-z0-9.]+)?/${o.metadata.name} (created|configured|unchanged)`),
    );
  }
  expect(warnings).not.toContain('PodSecurity');
  expect(objects.map((o) => o.kind)).toEqual(
    expect.arrayContaining([
      'CustomResourceDefinition',
      'Namespace',
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Role',
      'RoleBinding',
      'ConfigMap',
      'Deployment',
      'Service',
    ]),
  );
});

test.each(builds)('%s configures the operator with variables it reads and accepts', async (dir) => {
  const { objects } = await build(dir);
  const env = operatorEnv(objects);
  const known = helpText();
  for (const name of Object.keys(env)) expect(known).toContain(` ${name} `);
  const config = configFrom(env);
  const deployment = find(objects, 'Deployment') as K8sObject & { spec: { replicas: number } };
  // One replica without leader election, or several with it, never several without.
  expect(config.leader.enabled || deployment.spec.replicas === 1).toBe(true);
  // The leader-election Role allows exactly the Lease the operator is told to use.
  expect(rules(find(objects, 'Role'))).toContainEqual(
    expect.objectContaining({ resourceNames: [config.leader.name] }),
  );
});

test('the overlays differ where they should: dev runs one replica without a leader, production pins images', async () => {
  const dev = await build('deploy/overlays/dev');
  expect(find(dev.objects, 'Deployment')).toMatchObject({ spec: { replicas: 1 } });
  expect(configFrom(operatorEnv(dev.objects))).toMatchObject({
    leader: { enabled: false },
    s3: { endpoint: expect.stringMatching(/^http:\/\/minio/) },
  });
  expect(dev.objects.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
  const prod = await build('deploy/overlays/production');
  expect(find(prod.objects, 'Deployment')).toMatchObject({ spec: { replicas: 2 } });
  expect(operatorContainer(find(prod.objects, 'Deployment')).image).toMatch(/whatsapp-operator:0\.1\.0$/);
  const config = configFrom(operatorEnv(prod.objects));
  // Production issues credentials: one per channel, from the mounted issuer Secret.
  expect(config.worker.natsSecret).toEqual({ name: 'wa-nats-{clinicId}-{channelId}', key: 'creds' });
  expect(config.natsIssuer).toEqual({ dir: '/var/run/secrets/whatsapp/nats-issuer', ttlSeconds: 86_400 });
  expect(config.natsCredsFile).toBe('/var/run/secrets/whatsapp/nats/creds');
  const prodPod = (find(prod.objects, 'Deployment') as unknown as V1Deployment).spec!.template.spec!;
  expect(operatorContainer(find(prod.objects, 'Deployment')).volumeMounts).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ mountPath: '/var/run/secrets/whatsapp/nats' }),
      expect.objectContaining({ name: 'nats-issuer', mountPath: config.natsIssuer!.dir }),
    ]),
  );
  expect(prodPod.volumes).toContainEqual(
    expect.objectContaining({
      name: 'nats-issuer',
      secret: expect.objectContaining({ secretName: 'whatsapp-operator-nats-issuer' }),
    }),
  );
  // Development stays plain: nothing issued, no NATS Secret.
  const devConfig = configFrom(operatorEnv(dev.objects));
  expect(devConfig.natsIssuer).toBeUndefined();
  expect(devConfig.worker.natsSecret).toBeUndefined();
});

test("the kustomize RBAC is the chart's RBAC", async () => {
  const { objects: base } = await build('deploy/base');
  const { objects: chart } = await renderChart('rbac-compare', 'whatsapp-system', [
    '-f',
    join(repoRoot, 'charts/whatsapp-operator/ci/minimal-values.yaml'),
  ]);
  expect(rules(find(base, 'ClusterRole'))).toEqual(rules(find(chart, 'ClusterRole')));
  expect(rules(find(base, 'Role'))).toEqual(rules(find(chart, 'Role')));
});

test("K4: each overlay's admission policy allows exactly the worker repository its operator allows", async () => {
  for (const dir of builds) {
    const { objects } = await build(dir);
    const { allowedRepositories } = configFrom(operatorEnv(objects)).worker;
    const policy = find(objects, 'ValidatingAdmissionPolicy') as K8sObject & {
      spec: { validations: { expression: string; messageExpression: string }[] };
    };
    const rule = policy.spec.validations.find((v) => v.expression.includes('variables.workerImage'))!;
    // The CEL's own regular expressions (RE2 syntax that JavaScript reads the same way here).
    const patterns = [...rule.expression.matchAll(/matches\(r'([^']+)'\)/g)].map((m) => new RegExp(m[1]!));
    const admitted = (image: string) => patterns.some((p) => p.test(image));
    expect([dir, patterns.length]).toEqual([dir, allowedRepositories.length]);
    for (const repository of allowedRepositories) {
      expect([
        dir,
        admitted(`${repository}:1.2.3`),
        admitted(`${repository}@sha256:${'d'.repeat(64)}`),
      ]).toEqual([dir, true, true]);
      expect([dir, admitted(`${repository}-other:1`), admitted(`evil.example/${repository}:1`)]).toEqual([
        dir,
        false,
        false,
      ]);
    }
    expect(rule.messageExpression).toContain(`allows (${allowedRepositories.join(', ')})`);
  }
});
