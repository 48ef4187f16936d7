import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Deployment } from '@kubernetes/client-node';
import { helpText } from '../../../operator/src/config.ts';
import { repoRoot } from '../../harness/paths.ts';
import { testStack } from '../../harness/stack.ts';
import {
  chartDir,
  ciValues,
  configFrom,
  ensureNamespace,
  failure,
  find,
  helm,
  kubectl,
  manifestFile,
  operatorContainer,
  parseManifests,
  plainEnv,
  renderChart,
  serverDryRun,
  unique,
  WARN_RESTRICTED,
  type K8sObject,
} from './packaging.ts';

/**
 * The Helm chart: linted by the real helm, rendered and admitted by the real API server
 * (server-side dry run), its values schema refusing bad values by name, and its operator
 * environment exactly what operator/src/config.ts reads.
 */
const stack = testStack();
const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
const required = ['--set', 's3.bucket=whatsapp-state', '--set', 'kms.keyId=alias/whatsapp-state'];

describe('helm lint', () => {
  test.each([
    ['the default values', []],
    ['ci/minimal-values.yaml', ['-f', ciValues('minimal')]],
    ['ci/full-values.yaml', ['-f', ciValues('full')]],
    ['ci/plain-nats-values.yaml', ['-f', ciValues('plain-nats')]],
  ])('passes with %s (--strict)', async (_, args) => {
    const { stdout } = await helm('lint', '--strict', chartDir, ...args);
    expect(stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });
});

test('the CRD copies in the chart and in the kustomize base are identical to crds/', async () => {
  const file = 'whatsappchannels.whatsapp.clinic.dev.yaml';
  const original = await readFile(join(repoRoot, 'crds', file));
  for (const copy of ['charts/whatsapp-operator/crds', 'deploy/base/crds']) {
    expect((await readFile(join(repoRoot, copy, file))).equals(original)).toBe(true);
  }
});

test("appVersion is package.json's version, and both images default to it", async () => {
  const chart = await readFile(join(chartDir, 'Chart.yaml'), 'utf8');
  expect(chart).toContain(`appVersion: '${pkg.version}'`);
  const { objects } = await renderChart('tags', 'default', required);
  const container = operatorContainer(find(objects, 'Deployment'));
  expect(container.image).toBe(`registry.example.com/whatsapp/whatsapp-operator:${pkg.version}`);
  expect(plainEnv(container).WA_WORKER_IMAGE).toBe(
    `registry.example.com/whatsapp/whatsapp-worker:${pkg.version}`,
  );
  // A digest wins over the tag.
  const full = operatorContainer(
    find((await renderChart('tags', 'default', ['-f', ciValues('full')])).objects, 'Deployment'),
  );
  expect(full.image).toMatch(/whatsapp-operator@sha256:0123456789abcdef/);
});

describe('the operator Deployment', () => {
  test('sets only variables the operator reads, and the operator accepts them as they are', async () => {
    const { objects } = await renderChart('env', 'wa-system', ['-f', ciValues('full')]);
    const container = operatorContainer(find(objects, 'Deployment'));
    const known = helpText();
    for (const { name } of container.env!) expect(known).toContain(` ${name} `);
    const config = configFrom(plainEnv(container));
    expect(config).toMatchObject({
      natsUrl: 'nats://nats-0.nats.nats:4222,nats://nats-1.nats.nats:4222',
      natsCredsFile: '/var/run/secrets/whatsapp/nats/creds',
      natsIssuer: { dir: '/var/run/secrets/whatsapp/nats-issuer', ttlSeconds: 43_200 },
      s3: { bucket: 'clinics-whatsapp-state', prefix: 'prod/wa', region: 'eu-central-1' },
      kms: {
        keyId: 'arn:aws:kms:eu-central-1:111122223333:alias/whatsapp-state',
        clinicKeys: { 'clinic-a': 'arn:aws:kms:eu-central-1:111122223333:alias/wa-clinic-a' },
        region: 'eu-central-1',
      },
      concurrency: 16,
      rollout: {
        maxUnavailable: { count: 20 },
        maxUnavailablePerClinic: { percent: 25 },
        clinicMaxUnavailable: { 'clinic-a': { count: 1 } },
        canary: 5,
        maxFailed: { percent: 1 },
        healthTimeoutMs: 600_000,
      },
      worker: {
        image: '111122223333.dkr.ecr.eu-central-1.amazonaws.com/whatsapp-worker:0.1.0',
        serviceAccount: 'whatsapp-worker',
        natsSecret: { name: 'wa-nats-{clinicId}-{channelId}', key: 'creds' },
        resources: { requests: { cpu: '100m', memory: '160Mi' }, limits: { memory: '320Mi' } },
        extraEnv: { NODE_OPTIONS: '--max-old-space-size=220' },
        waWebVersion: '2.3000.1023223821',
      },
      leader: { enabled: true, name: 'whatsapp-operator-leader', leaseMs: 15_000 },
    });
    // Identity and lease namespace from the downward API.
    expect(
      container.env!.filter((e) => e.valueFrom).map((e) => [e.name, e.valueFrom!.fieldRef!.fieldPath]),
    ).toEqual([
      ['POD_NAME', 'metadata.name'],
      ['POD_NAMESPACE', 'metadata.namespace'],
    ]);
  });

  test('can set every variable the operator reads : nothing of the operator is out of reach', async () => {
    const { objects } = await renderChart('every-env', 'wa-system', [
      '-f',
      ciValues('full'),
      '--set',
      'kms.endpoint=https://kms.internal:443',
      '--set',
      's3.endpoint=https://s3.internal:443',
      '--set',
      'operator.watchNamespace=clinic-a',
      '--set',
      'worker.envSecret=wa-aws-{clinicId}',
      // Tests and demos only, never in full-values.yaml: the protocol simulator.
      '--set',
      'worker.simulator.url=ws://wa-sim.test:9000/ws/chat',
      '--set',
      'worker.simulator.trustRoot=/etc/wa-sim/root.hex',
    ]);
    const set = new Set(operatorContainer(find(objects, 'Deployment')).env!.map((e) => e.name));
    const readByOperator = [...helpText().matchAll(/^ {2}--\S+\s+(\S+)\s/gm)].map((m) => m[1]!);
    expect(readByOperator.length).toBeGreaterThan(30);
    expect(readByOperator.filter((name) => !set.has(name))).toEqual([]);
  });

  test('two replicas spread over nodes and zones, a disruption budget, restricted security', async () => {
    const { objects } = await renderChart('shape', 'wa-system', required);
    const deployment = find(objects, 'Deployment') as unknown as V1Deployment;
    expect(deployment.spec!.replicas).toBe(2);
    const pod = deployment.spec!.template.spec!;
    expect(pod.topologySpreadConstraints!.map((c) => c.topologyKey)).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ]);
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.containers[0]!.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(find(objects, 'PodDisruptionBudget').spec).toMatchObject({ maxUnavailable: 1 });
  });

  test('by default the operator issues NATS credentials: the issuer Secret is mounted, one worker Secret per channel', async () => {
    const { objects } = await renderChart('issued', 'wa-system', required);
    const deployment = find(objects, 'Deployment') as unknown as V1Deployment;
    const container = operatorContainer(find(objects, 'Deployment'));
    expect(container.volumeMounts).toContainEqual({
      name: 'nats-issuer',
      mountPath: '/var/run/secrets/whatsapp/nats-issuer',
      readOnly: true,
    });
    expect(deployment.spec!.template.spec!.volumes).toContainEqual(
      expect.objectContaining({
        name: 'nats-issuer',
        secret: expect.objectContaining({ secretName: 'whatsapp-operator-nats-issuer' }),
      }),
    );
    expect(configFrom(plainEnv(container))).toMatchObject({
      natsCredsFile: '/var/run/secrets/whatsapp/nats/creds',
      natsIssuer: { dir: '/var/run/secrets/whatsapp/nats-issuer', ttlSeconds: 86_400 },
      worker: { natsSecret: { name: 'wa-nats-{clinicId}-{channelId}', key: 'creds' } },
    });
    expect(deployment.spec!.template.spec!.volumes).toContainEqual(
      expect.objectContaining({
        name: 'nats-creds',
        secret: expect.objectContaining({ secretName: 'whatsapp-operator-nats' }),
      }),
    );
  });

  test('plain mode (ci/plain-nats-values.yaml) issues nothing and mounts no NATS Secret', async () => {
    const { objects } = await renderChart('plain', 'wa-system', ['-f', ciValues('plain-nats')]);
    const container = operatorContainer(find(objects, 'Deployment'));
    expect(container.volumeMounts!.map((m) => m.name)).toEqual(['tmp']);
    const config = configFrom(plainEnv(container));
    expect(config.natsIssuer).toBeUndefined();
    expect(config.natsCredsFile).toBeUndefined();
    expect(config.worker.natsSecret).toBeUndefined();
  });
});

describe('values.schema.json', () => {
  const bad: [string, string, RegExp][] = [
    ['replicaCount: two', 'replicaCount', /\/replicaCount.*(string|integer)/],
    ['s3: {bucket: Bad_Bucket}', 's3.bucket', /\/s3\/bucket/],
    ['nats: {url: "http://nats:4222"}', 'nats.url', /\/nats\/url/],
    ['operator: {logLevel: verbose}', 'operator.logLevel', /\/operator\/logLevel/],
    ['kms: {clinicKeys: {Clinic_A: alias/x}}', 'kms.clinicKeys', /\/kms\/clinicKeys/],
    ['image: {digest: latest}', 'image.digest', /\/image\/digest/],
    [
      'worker: {resources: {limits: {cpu: "1"}}}',
      'worker.resources.limits.cpu',
      /\/worker\/resources\/limits.*cpu/,
    ],
    ['worker: {waWebVersion: "2.3000"}', 'worker.waWebVersion', /\/worker\/waWebVersion/],
    ['worker: {waWebVersion: "2.0.1"}', 'worker.waWebVersion', /\/worker\/waWebVersion/],
    ['replicas: 3', 'a misspelt key', /additional properties 'replicas' not allowed/],
  ];
  test.each(bad)('refuses %s, naming %s', async (values, _, message) => {
    const file = join(stack.workDir, `bad-values-${Date.now()}-${Math.random()}.yaml`);
    await writeFile(file, values);
    // After the minimal values (a --set would win over the file).
    const error = await failure(helm('template', 'bad', chartDir, '-f', ciValues('minimal'), '-f', file));
    expect(error).toContain("values don't meet the specifications of the schema");
    expect(error).toMatch(message);
  });

  test('helm lint refuses a bad values file too', async () => {
    const file = join(stack.workDir, `bad-lint-${Date.now()}.yaml`);
    await writeFile(file, 'metrics: {port: 0}\n');
    expect(await failure(helm('lint', chartDir, '-f', file))).toMatch(/\/metrics\/port/);
  });

  test('a missing bucket or KMS key, or two replicas without leader election, stop the install with the reason', async () => {
    expect(await failure(helm('template', 'x', chartDir, '--set', 'kms.keyId=k'))).toContain(
      's3.bucket is required: the bucket that holds',
    );
    expect(await failure(helm('template', 'x', chartDir, '--set', 's3.bucket=whatsapp-state'))).toContain(
      'kms.keyId is required',
    );
    expect(
      await failure(
        helm('template', 'x', chartDir, ...required, '--set', 'operator.leaderElection.enabled=false'),
      ),
    ).toContain('operator.leaderElection.enabled=false needs replicaCount: 1');
  });

  test('issued credentials without their Secrets or without one worker Secret per channel stop the install', async () => {
    expect(
      await failure(helm('template', 'x', chartDir, ...required, '--set', 'nats.issuer.secretName=')),
    ).toContain('nats.issuer.secretName is required with nats.issuer.enabled');
    expect(
      await failure(
        helm('template', 'x', chartDir, ...required, '--set', 'worker.natsSecret.name=wa-nats-{clinicId}'),
      ),
    ).toContain('nats.issuer.enabled needs worker.natsSecret.name with {clinicId} and {channelId}');
    expect(
      await failure(helm('template', 'x', chartDir, ...required, '--set', 'nats.credentialsSecret.name=')),
    ).toContain("nats.issuer.enabled needs nats.credentialsSecret.name: the operator's own NATS user");
  });
});

describe('helm template, admitted by the real API server (server-side dry run)', () => {
  test('with the minimal values, CRD included', async () => {
    const ns = unique('chart-min');
    await ensureNamespace(ns, WARN_RESTRICTED);
    const { text } = await renderChart(unique('min'), ns, ['--include-crds', '-f', ciValues('minimal')]);
    const { out, warnings } = await serverDryRun(await manifestFile(ns, text));
    for (const kind of [
      'customresourcedefinition.apiextensions.k8s.io/whatsappchannels.whatsapp.clinic.dev',
      'serviceaccount/',
      'clusterrole.rbac.authorization.k8s.io/',
      'clusterrolebinding.rbac.authorization.k8s.io/',
      'role.rbac.authorization.k8s.io/',
      'rolebinding.rbac.authorization.k8s.io/',
      'service/',
      'deployment.apps/',
      'poddisruptionbudget.policy/',
    ])
      expect(out).toContain(kind);
    expect(warnings).not.toContain('PodSecurity');
    // The default is issued NATS credentials: the admitted Deployment mounts the issuer Secret.
    expect(operatorContainer(find(parseManifests(text), 'Deployment')).volumeMounts).toContainEqual(
      expect.objectContaining({ name: 'nats-issuer', mountPath: '/var/run/secrets/whatsapp/nats-issuer' }),
    );

    // The check can fail: the same Deployment with privilege escalation allowed is warned about.
    const deployment = find(parseManifests(text), 'Deployment');
    operatorContainer(deployment).securityContext!.allowPrivilegeEscalation = true;
    const warned = await serverDryRun(await manifestFile(`${ns}-bad`, [deployment]));
    expect(warned.warnings).toMatch(
      /would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false/,
    );
  });

  test('with every option on: ServiceMonitor, worker ServiceAccounts and NetworkPolicies in clinic namespaces', async () => {
    const ns = unique('chart-full');
    const clinics = [unique('clinic-x'), unique('clinic-y')];
    for (const n of [ns, ...clinics]) await ensureNamespace(n, WARN_RESTRICTED);
    // The prometheus-operator CRD is not part of this project: a stand-in with its name.
    await kubectl('apply', '-f', join(import.meta.dirname, 'servicemonitor-crd.yaml'));
    await kubectl(
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/servicemonitors.monitoring.coreos.com',
    );
    const { text, objects } = await renderChart(unique('full'), ns, [
      '-f',
      ciValues('full'),
      '--set',
      `worker.namespaces={${clinics.join(',')}}`,
    ]);
    const { out, warnings } = await serverDryRun(await manifestFile(ns, text));
    expect(warnings).not.toContain('PodSecurity');
    expect(out).toMatch(/servicemonitor\.monitoring\.coreos\.com\/\S+ created \(server dry run\)/);
    for (const clinic of clinics) {
      const sa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.namespace === clinic);
      expect(sa).toMatchObject({
        metadata: {
          name: 'whatsapp-worker',
          annotations: { 'eks.amazonaws.com/role-arn': expect.any(String) },
        },
        automountServiceAccountToken: false,
      });
      const policy = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === clinic) as
        | (K8sObject & { spec: { policyTypes: string[]; egress: { ports: { port: number }[] }[] } })
        | undefined;
      expect(policy?.spec.policyTypes).toEqual(['Egress']);
      expect(policy?.spec.egress.map((r) => r.ports.map((p) => p.port))).toEqual([[53, 53], [4222], [443]]);
    }
    expect(out.match(/networkpolicy\.networking\.k8s\.io\/whatsapp-worker-egress created/g)).toHaveLength(2);
  });
});

test('with EKS Pod Identity the worker egress policy lets the workers reach the node agent for AWS credentials', async () => {
  const rules = async (...set: string[]) => {
    const { objects } = await renderChart(unique('pod-identity'), 'wa-system', [
      ...required,
      '--set',
      'worker.namespaces={clinic-p}',
      '--set',
      'worker.networkPolicy.enabled=true',
      ...set,
    ]);
    const policy = find(objects, 'NetworkPolicy') as K8sObject & {
      spec: { egress: { to: { ipBlock?: { cidr: string } }[]; ports: { port: number }[] }[] };
    };
    return policy.spec.egress.map(
      (r) => `${r.to[0]?.ipBlock?.cidr ?? 'selector'}:${r.ports.map((p) => p.port)}`,
    );
  };
  expect(await rules()).not.toContain('169.254.170.23/32:80');
  expect(await rules('--set', 'worker.networkPolicy.podIdentityAgent=true')).toContain(
    '169.254.170.23/32:80',
  );
});

test('helm install (server dry run) prints NOTES that say what to do next, and warn about placeholder images', async () => {
  const ns = unique('chart-notes');
  await ensureNamespace(ns);
  const install = async (values: 'minimal' | 'full' | 'plain-nats') =>
    (
      await helm(
        'install',
        unique('notes'),
        chartDir,
        '--kubeconfig',
        stack.kube.kubeconfig,
        '--namespace',
        ns,
        '--dry-run=server',
        '--skip-crds',
        '-f',
        ciValues(values),
        ...(values === 'full'
          ? ['--set', 'metrics.serviceMonitor.enabled=false', '--set', 'worker.namespaces=null']
          : []),
      )
    ).stdout.split('NOTES:')[1] ?? '';
  const minimal = await install('minimal');
  expect(minimal).toContain('WARNING: image.repository or worker.image.repository is still a placeholder');
  expect(minimal).toContain('kubectl apply -f deploy/examples/clinics/clinic-a.yaml');
  expect(minimal).toContain('whatsapp-state/wa/<clinic>/<channel>/');
  expect(minimal).toContain('docs/iam.md');
  const full = await install('full');
  expect(full).not.toContain('WARNING');
  expect(full).toContain("The operator writes each channel's NATS Secret (wa-nats-{clinicId}-{channelId})");
  expect(minimal).toContain(`wa nats bootstrap --out <new folder> --namespace ${ns}`);
  expect(minimal).toContain('Secrets whatsapp-operator-nats-issuer and whatsapp-operator-nats');
  const plain = await install('plain-nats');
  expect(plain).toContain('NATS plain mode (nats.issuer.enabled=false)');
  expect(plain).not.toContain('wa nats bootstrap');
});
