import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testStack } from '../../harness/stack.ts';

const run = promisify(execFile);

/** Smoke test of helm: it renders a chart and the real API server accepts the result. */
describe('helm', () => {
  test('a minimal chart is linted, rendered and accepted by kube-apiserver (server dry run)', async () => {
    const stack = testStack();
    const chart = join(stack.workDir, 'smoke-chart');
    await mkdir(join(chart, 'templates'), { recursive: true });
    await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: smoke\nversion: 0.1.0\n');
    await writeFile(join(chart, 'values.yaml'), 'greeting: hello\n');
    await writeFile(
      join(chart, 'templates', 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: smoke\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
    );
    await run(stack.bins.helm, ['lint', chart]);
    const { stdout } = await run(stack.bins.helm, ['template', 'smoke', chart, '--set', 'greeting=hi']);
    expect(stdout).toContain('greeting: "hi"');
    const manifest = join(stack.workDir, 'smoke-rendered.yaml');
    await writeFile(manifest, stdout);
    const applied = await run(stack.bins.kubectl, [
      '--kubeconfig',
      stack.kube.kubeconfig,
      'apply',
      '--dry-run=server',
      '-n',
      'default',
      '-f',
      manifest,
    ]);
    expect(applied.stdout).toMatch(/configmap\/smoke created \(server dry run\)/);
  });
});
