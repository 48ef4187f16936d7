import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../../harness/paths.ts';
import { testStack } from '../../harness/stack.ts';
import {
  chartDir,
  ciValues,
  ensureNamespace,
  find,
  kubectl,
  manifestFile,
  renderChart,
  unique,
  type K8sObject,
} from './packaging.ts';

/**
 * The chart's optional monitoring objects: the workers' PodMonitor and the PrometheusRule,
 * rendered by the real helm and admitted by the real API server under stand-ins for the
 * prometheus-operator CRDs (podmonitor-crd.yaml, prometheusrule-crd.yaml) that type every field
 * the chart writes and refuse any other (strict validation). The rules' behaviour is tested by
 * promtool (test/integration/observability/alerts.test.ts).
 */
testStack();
const monitoringOn = [
  '--set',
  'metrics.podMonitor.enabled=true',
  '--set',
  'metrics.prometheusRule.enabled=true',
];

beforeAll(async () => {
  for (const crd of ['podmonitor', 'prometheusrule']) {
    await kubectl('apply', '-f', join(import.meta.dirname, `${crd}-crd.yaml`));
    await kubectl(
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      `crd/${crd}s.monitoring.coreos.com`,
    );
  }
});

test('off by default: no PodMonitor and no PrometheusRule', async () => {
  const { objects } = await renderChart(unique('mon-off'), 'wa-system', ['-f', ciValues('full')]);
  expect(objects.map((o) => o.kind)).not.toContain('PodMonitor');
  expect(objects.map((o) => o.kind)).not.toContain('PrometheusRule');
});

test('with both on, the API server admits the PodMonitor and the PrometheusRule', async () => {
  const ns = unique('chart-mon');
  await ensureNamespace(ns);
  const { objects } = await renderChart(unique('mon'), ns, [
    '-f',
    ciValues('full'),
    ...monitoringOn,
    '--set',
    'metrics.prometheusRule.runbookBaseUrl=https://docs.example.org/operations',
  ]);
  const monitoring = objects.filter((o) => o.kind === 'PodMonitor' || o.kind === 'PrometheusRule');
  expect(monitoring.map((o) => o.kind).sort()).toEqual(['PodMonitor', 'PrometheusRule']);
  const { stdout } = await kubectl(
    'apply',
    '--dry-run=server',
    '--validate=strict',
    '-f',
    await manifestFile(ns, monitoring),
  );
  expect(stdout).toMatch(/podmonitor\.monitoring\.coreos\.com\/\S+ created \(server dry run\)/);
  expect(stdout).toMatch(/prometheusrule\.monitoring\.coreos\.com\/\S+ created \(server dry run\)/);
});

test('the PodMonitor selects worker pods by the labels the operator sets, on their http port', async () => {
  const { objects } = await renderChart(unique('mon-pm'), 'wa-system', [
    '-f',
    ciValues('full'),
    ...monitoringOn,
  ]);
  const monitor = find(objects, 'PodMonitor') as K8sObject & {
    spec: {
      selector: { matchLabels: Record<string, string> };
      podMetricsEndpoints: { port: string; path: string }[];
    };
  };
  // The operator's own pod template (operator/src/pod.ts) is where these come from.
  const podSource = await readFile(join(repoRoot, 'operator/src/pod.ts'), 'utf8');
  expect(podSource).toMatch(/ports: \[\{ name: 'http', containerPort: WORKER_HTTP_PORT \}\]/);
  expect(monitor.spec.selector.matchLabels).toEqual({
    'app.kubernetes.io/managed-by': 'whatsapp-operator',
    'app.kubernetes.io/component': 'worker',
  });
  expect(monitor.spec.podMetricsEndpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s' }]);
});

test('the PrometheusRule carries every alert of files/prometheus-rules.yaml, each with its runbook', async () => {
  const base = 'https://docs.example.org/operations';
  const { objects } = await renderChart(unique('mon-pr'), 'wa-system', [
    '-f',
    ciValues('full'),
    ...monitoringOn,
    '--set',
    `metrics.prometheusRule.runbookBaseUrl=${base}`,
  ]);
  type Rule = { alert: string; expr: string; annotations: Record<string, string> };
  const rule = find(objects, 'PrometheusRule') as K8sObject & { spec: { groups: { rules: Rule[] }[] } };
  const file = parse(await readFile(join(chartDir, 'files/prometheus-rules.yaml'), 'utf8')) as {
    groups: { rules: Rule[] }[];
  };
  const alerts = (groups: { rules: Rule[] }[]) => groups.flatMap((g) => g.rules);
  const rendered = alerts(rule.spec.groups);
  expect(rendered.map((r) => r.alert)).toEqual(alerts(file.groups).map((r) => r.alert));
  const operations = await readFile(join(repoRoot, 'docs/operations.md'), 'utf8');
  for (const r of rendered) {
    expect(r.annotations.runbook_url).toBe(`${base}#${r.alert.toLowerCase()}`);
    expect(r.annotations.summary).toBeTruthy();
    // The runbook section exists: a `### <AlertName>` heading (GitHub anchors are lower case).
    expect(operations).toContain(`\n### ${r.alert}\n`);
  }
});
