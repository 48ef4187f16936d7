import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { MONITORING_COMPONENT, renderMonitoringCopies } from '../../../scripts/monitoring-copies.ts';
import { repoRoot } from '../../harness/paths.ts';
import { testStack } from '../../harness/stack.ts';
import {
  chartDir,
  ciValues,
  ensureNamespace,
  find,
  kubectl,
  manifestFile,
  parseManifests,
  serverDryRun,
  renderChart,
  unique,
  type K8sObject,
} from './packaging.ts';

/**
 * The chart's optional monitoring objects: the workers' PodMonitor, the PrometheusRule and the
 * Grafana dashboards' ConfigMaps,
 * rendered by the real helm and admitted by the real API server under stand-ins for the
 * prometheus-operator CRDs (podmonitor-crd.yaml, prometheusrule-crd.yaml) that type every field
 * the chart writes and refuse any other (strict validation). The rules' behaviour is tested by
 * promtool (test/integration/observability/alerts.test.ts).
 */
const stack = testStack();
const monitoringOn = [
  '--set',
  'metrics.podMonitor.enabled=true',
  '--set',
  'metrics.prometheusRule.enabled=true',
  '--set',
  'metrics.dashboards.enabled=true',
];
const dashboards = (objects: K8sObject[]) =>
  objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.name.includes('-dashboard-'));

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

test('off by default: no PodMonitor, no PrometheusRule, no dashboards', async () => {
  const { objects } = await renderChart(unique('mon-off'), 'wa-system', ['-f', ciValues('full')]);
  expect(objects.map((o) => o.kind)).not.toContain('PodMonitor');
  expect(objects.map((o) => o.kind)).not.toContain('PrometheusRule');
  expect(dashboards(objects)).toEqual([]);
});

test('with monitoring on, the API server admits the PodMonitor, the PrometheusRule and the dashboards', async () => {
  const ns = unique('chart-mon');
  await ensureNamespace(ns);
  const { objects } = await renderChart(unique('mon'), ns, [
    '-f',
    ciValues('full'),
    ...monitoringOn,
    '--set',
    'metrics.prometheusRule.runbookBaseUrl=https://docs.example.org/operations',
  ]);
  const monitoring = [
    ...objects.filter((o) => o.kind === 'PodMonitor' || o.kind === 'PrometheusRule'),
    ...dashboards(objects),
  ];
  expect(monitoring.map((o) => o.kind).sort()).toEqual([
    'ConfigMap',
    'ConfigMap',
    'PodMonitor',
    'PrometheusRule',
  ]);
  const { stdout } = await kubectl(
    'apply',
    '--dry-run=server',
    '--validate=strict',
    '-f',
    await manifestFile(ns, monitoring),
  );
  expect(stdout).toMatch(/podmonitor\.monitoring\.coreos\.com\/\S+ created \(server dry run\)/);
  expect(stdout).toMatch(/prometheusrule\.monitoring\.coreos\.com\/\S+ created \(server dry run\)/);
  expect(stdout.match(/configmap\/\S+-dashboard-\S+ created \(server dry run\)/g)).toHaveLength(2);
});

test('each dashboard is a ConfigMap for the Grafana sidecar holding the JSON file as it is', async () => {
  const { objects } = await renderChart(unique('mon-db'), 'wa-system', [
    '-f',
    ciValues('full'),
    ...monitoringOn,
    '--set',
    'metrics.dashboards.namespace=monitoring',
    '--set',
    'metrics.dashboards.annotations.grafana_folder=WhatsApp',
  ]);
  const maps = dashboards(objects) as (K8sObject & {
    metadata: { annotations?: Record<string, string> };
    data: Record<string, string>;
  })[];
  expect(
    maps
      .map((m) => Object.keys(m.data))
      .flat()
      .sort(),
  ).toEqual(['clinic.json', 'fleet-overview.json']);
  for (const m of maps) {
    expect(m.metadata.labels?.['grafana_dashboard']).toBe('1');
    expect(m.metadata.namespace).toBe('monitoring');
    expect(m.metadata.annotations).toEqual({ grafana_folder: 'WhatsApp' });
    const [file, json] = Object.entries(m.data)[0]!;
    const original = await readFile(join(chartDir, 'dashboards', file), 'utf8');
    expect(JSON.parse(json)).toEqual(JSON.parse(original));
  }
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
  type Rule = { alert?: string; record?: string; expr: string; annotations?: Record<string, string> };
  const rule = find(objects, 'PrometheusRule') as K8sObject & { spec: { groups: { rules: Rule[] }[] } };
  const file = parse(await readFile(join(chartDir, 'files/prometheus-rules.yaml'), 'utf8')) as {
    groups: { rules: Rule[] }[];
  };
  const all = (groups: { rules: Rule[] }[]) => groups.flatMap((g) => g.rules);
  expect(all(rule.spec.groups)).toEqual(
    all(file.groups).map((r) =>
      r.annotations
        ? {
            ...r,
            annotations: {
              ...r.annotations,
              runbook_url: r.annotations.runbook_url!.replace('RUNBOOK_BASE_URL', base),
            },
          }
        : r,
    ),
  );
  const rendered = all(rule.spec.groups).filter(
    (r): r is Rule & { alert: string; annotations: Record<string, string> } => r.alert !== undefined,
  );
  expect(rendered.length).toBeGreaterThan(15);
  const operations = await readFile(join(repoRoot, 'docs/operations.md'), 'utf8');
  for (const r of rendered) {
    expect(r.annotations.runbook_url).toBe(`${base}#${r.alert.toLowerCase()}`);
    expect(r.annotations.summary).toBeTruthy();
    // The runbook section exists: a `### <AlertName>` heading (GitHub anchors are lower case).
    expect(operations).toContain(`\n### ${r.alert}\n`);
  }
});

describe('the kustomize monitoring component (deploy/components/monitoring)', () => {
  test("its copies of the chart's rules and dashboards are current (npm run generate)", async () => {
    for (const [path, content] of Object.entries(await renderMonitoringCopies(repoRoot)))
      expect({ path, current: (await readFile(join(repoRoot, path), 'utf8')) === content }).toEqual({
        path,
        current: true,
      });
  });

  test('an overlay with it builds, matches the chart, and the API server admits it', async () => {
    // An overlay as the component's comment says: the base plus the component.
    const dir = join(stack.workDir, unique('kustomize-monitoring'));
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'namespace: whatsapp-system',
        'resources:',
        // Relative: kustomize refuses absolute roots.
        `  - ${relative(dir, join(repoRoot, 'deploy/base'))}`,
        'components:',
        `  - ${relative(dir, join(repoRoot, MONITORING_COMPONENT))}`,
        '',
      ].join('\n'),
    );
    const { stdout } = await kubectl('kustomize', dir);
    const objects = parseManifests(stdout);
    const built = [
      ...objects.filter((o) => o.kind === 'PodMonitor' || o.kind === 'PrometheusRule'),
      ...dashboards(objects),
    ];
    expect(built.map((o) => o.kind).sort()).toEqual([
      'ConfigMap',
      'ConfigMap',
      'PodMonitor',
      'PrometheusRule',
    ]);
    for (const o of built) expect(o.metadata.namespace).toBe('whatsapp-system');
    for (const m of dashboards(objects)) expect(m.metadata.labels?.['grafana_dashboard']).toBe('1');
    // The same PodMonitor spec and rule groups as the chart renders.
    const chart = (
      await renderChart(unique('mon-kz'), 'whatsapp-system', [
        '-f',
        ciValues('full'),
        ...monitoringOn,
        '--set',
        'metrics.prometheusRule.runbookBaseUrl=docs/operations.md',
      ])
    ).objects;
    type WithSpec = K8sObject & { spec: unknown };
    for (const kind of ['PodMonitor', 'PrometheusRule'])
      expect((find(objects, kind) as WithSpec).spec).toEqual((find(chart, kind) as WithSpec).spec);
    await ensureNamespace('whatsapp-system');
    const { out } = await serverDryRun(await manifestFile('kustomize-monitoring', built));
    expect(out).toMatch(/podmonitor\.monitoring\.coreos\.com\/whatsapp-operator-workers created/);
    expect(out).toMatch(/prometheusrule\.monitoring\.coreos\.com\/whatsapp-operator created/);
    expect(out.match(/configmap\/whatsapp-operator-dashboard-\S+ created/g)).toHaveLength(2);
  });
});
