import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KUBERNETES_VERSION } from '../../harness/catalog.ts';
import { testStack } from '../../harness/stack.ts';

const run = promisify(execFile);

/** Smoke test of the real control plane: kubectl applies a CRD and lists a custom resource. */
describe('kube-apiserver + etcd', () => {
  const stack = testStack();
  const kubectl = (...args: string[]) =>
    run(stack.bins.kubectl, ['--kubeconfig', stack.kube.kubeconfig, ...args]);

  test('reports the pinned version to clients', async () => {
    const { stdout } = await kubectl('version', '-o', 'json');
    expect(JSON.parse(stdout).serverVersion.gitVersion).toBe(KUBERNETES_VERSION);
  });

  test('a CRD is applied and a custom resource of it is stored and listed', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'smokes.harness.test' },
      spec: {
        group: 'harness.test',
        scope: 'Namespaced',
        names: { plural: 'smokes', singular: 'smoke', kind: 'Smoke' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: { spec: { type: 'object', properties: { n: { type: 'integer' } } } },
              },
            },
          },
        ],
      },
    };
    const file = join(stack.workDir, 'smoke-crd.json');
    await writeFile(file, JSON.stringify(crd));
    await kubectl('apply', '-f', file);
    await kubectl('wait', '--for=condition=Established', '--timeout=60s', 'crd/smokes.harness.test');

    const resource = {
      apiVersion: 'harness.test/v1',
      kind: 'Smoke',
      metadata: { name: 'one', namespace: 'default' },
      spec: { n: 42 },
    };
    const resourceFile = join(stack.workDir, 'smoke-one.json');
    await writeFile(resourceFile, JSON.stringify(resource));
    await kubectl('apply', '-f', resourceFile);

    const { stdout } = await kubectl('get', 'smokes', '-n', 'default', '-o', 'json');
    const items = JSON.parse(stdout).items as Array<{ metadata: { name: string }; spec: { n: number } }>;
    expect(items.map((i) => [i.metadata.name, i.spec.n])).toEqual([['one', 42]]);
  });

  test('the API server rejects an object its schema does not allow', async () => {
    const bad = {
      apiVersion: 'harness.test/v1',
      kind: 'Smoke',
      metadata: { name: 'bad', namespace: 'default' },
      spec: { n: 'not a number' },
    };
    const file = join(stack.workDir, 'smoke-bad.json');
    await writeFile(file, JSON.stringify(bad));
    await expect(kubectl('apply', '-f', file)).rejects.toMatchObject({
      stderr: expect.stringMatching(/spec\.n/),
    });
  });

  test('the controller manager runs: new namespaces get their default service account', async () => {
    await kubectl('create', 'namespace', 'smoke-sa');
    await expect(
      run(stack.bins.kubectl, [
        '--kubeconfig',
        stack.kube.kubeconfig,
        'wait',
        '--for=jsonpath={.metadata.name}=default',
        '--timeout=60s',
        '-n',
        'smoke-sa',
        'serviceaccount/default',
      ]),
    ).resolves.toBeDefined();
    const { stdout } = await kubectl(
      'get',
      'serviceaccount',
      'default',
      '-n',
      'smoke-sa',
      '-o',
      'jsonpath={.metadata.name}',
    );
    expect(stdout).toBe('default');
  });
});
