import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../../harness/eventually.ts';
import { adminKubectl } from '../../harness/kubectl.ts';
import { spawnNode, type NodeChild } from '../../harness/node-process.ts';
import { repoRoot } from '../../harness/paths.ts';
import { freePort } from '../../harness/ports.ts';
import { testStack } from '../../harness/stack.ts';
import { realStorage } from '../auth-store/fixtures.ts';
import { applyChannel, prepareNamespace } from '../operator/fixtures.ts';
import { workerBaseEnv } from '../worker/worker-harness.ts';
import { dashboardFiles, dashboardQueries } from './dashboards.ts';
import { documentedMetrics, exposedFamilies, type MetricFamily } from './metrics-table.ts';
import {
  exposedMetricNames,
  metricNamesIn,
  metricNamesInRuleFile,
  recordedNamesInRuleFile,
} from './rule-metrics.ts';
import { WORKER_ENTRY } from '../../harness/worker-bundle.ts';

/**
 * What a real worker process and a real operator process (the worker bundle `dist/worker-bundle/main.mjs`,
 * `node operator/src/main.ts`, against the real servers) serve on /metrics, held against
 * everything that names a metric: the chart's alert rules, its dashboards, and docs/metrics.md.
 * Rename a metric in the code, add one without documenting it, or misspell one in a rule or a
 * panel, and this fails.
 */
const stack = testStack();
const kubectl = adminKubectl();
const rulesFile = join(repoRoot, 'charts/whatsapp-operator/files/prometheus-rules.yaml');
const metricsDoc = join(repoRoot, 'docs/metrics.md');
const clinic = `obs-${Date.now().toString(36)}`;
const children: NodeChild[] = [];

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  return res.text();
}

/** Scrapes until the process answers (it opens its port during start-up). */
async function firstScrape(url: string, child: NodeChild): Promise<string> {
  let text = '';
  await eventually(
    `${url} to answer`,
    async () => {
      if (child.child.exitCode !== null) throw new Error(`exited early:\n${child.logs()}`);
      text = await scrape(url).catch(() => '');
      return text !== '';
    },
    // A start-up wait, not a speed check: on the loaded 2-core machine with several test files
    // side by side the operator once took longer than 30 s to open its port.
    90_000,
  );
  return text;
}

async function startWorker(): Promise<string> {
  const storage = await realStorage('obs-metrics');
  const trustRoot = join(stack.workDir, `${clinic}-trust-root.hex`);
  writeFileSync(trustRoot, randomBytes(32).toString('hex'));
  const port = await freePort();
  const worker = spawnNode(WORKER_ENTRY, {
    ...workerBaseEnv(clinic, 'reception', 'obs-worker', storage),
    WA_WS_URL: 'ws://127.0.0.1:1/ws', // nothing listens: the session keeps reconnecting
    WA_TRUST_ROOT: trustRoot,
    WA_HTTP_PORT: String(port),
  });
  children.push(worker);
  const url = `http://127.0.0.1:${port}/metrics`;
  await firstScrape(url, worker);
  return url;
}

async function startOperator(ns: string): Promise<string> {
  const port = await freePort();
  const operator = spawnNode('operator/src/main.ts', {
    KUBECONFIG: stack.kube.kubeconfig,
    POD_NAME: 'obs-operator',
    POD_NAMESPACE: ns,
    WA_WATCH_NAMESPACE: ns,
    NATS_URL: stack.nats.url,
    WA_WORKER_IMAGE: 'worker:test',
    WA_S3_BUCKET: 'wa-state',
    WA_KMS_KEY_ID: 'alias/wa',
    WA_HTTP_PORT: String(port),
  });
  children.push(operator);
  const url = `http://127.0.0.1:${port}/metrics`;
  await firstScrape(url, operator);
  return url;
}

test('the rule file names metrics, and the parser finds them', async () => {
  // The parser itself, on an expression of every shape the rules use.
  expect(
    metricNamesIn(
      'max by (clinic, channel) (a_total{phase="Connected"}) == 0 unless on (clinic) ' +
        'sum(increase(b_total{x=~"y|z"}[15m])) / c or vector(0)',
    ).sort(),
  ).toEqual(['a_total', 'b_total', 'c']);
  expect(() => metricNamesIn('sum(rate(a_total[5m])')).toThrow(/does not parse/);
  const names = await metricNamesInRuleFile(rulesFile);
  expect(names.length).toBeGreaterThan(10);
  for (const n of names) expect(n).toMatch(/^wa_(worker|operator)_[a-z_]+$/);
});

const scraped = { worker: '', operator: '' };

beforeAll(async () => {
  const ns = `${clinic}-ns`;
  await prepareNamespace(kubectl, ns, [`whatsapp.clinic.dev/clinic=${clinic}`]);
  const [workerUrl, operatorUrl] = await Promise.all([startWorker(), startOperator(ns)]);

  // The operator's own series: it leads (a single replica) and reports a channel's conditions.
  await applyChannel(kubectl, stack.workDir, ns, 'reception', { clinicId: clinic });
  // The worker serves /metrics before its event sink exists (start-up step 2 and 3, worker.md).
  await eventually(
    'the worker to report its outbox capacity',
    async () => {
      scraped.worker = await scrape(workerUrl);
      return /^wa_worker_outbox_capacity\{clinic="[^"]+",channel="reception"\} 1000$/m.test(scraped.worker);
    },
    30_000,
  );
  await eventually(
    'the operator to lead and report the channel conditions',
    async () => {
      scraped.operator = await scrape(operatorUrl);
      return (
        /^wa_operator_leader 1$/m.test(scraped.operator) &&
        new RegExp(
          `^wa_operator_channel_condition\\{namespace="${ns}",channel="reception",clinic="${clinic}",type="WorkerRunning",status="False",reason="[A-Za-z]+"\\} 1$`,
          'm',
        ).test(scraped.operator)
      );
    },
    30_000,
  );
}, 240_000);

function served(): Set<string> {
  return new Set([...exposedMetricNames(scraped.worker), ...exposedMetricNames(scraped.operator)]);
}

test('every metric an alert rule uses is served by a real worker or a real operator', async () => {
  const missing = (await metricNamesInRuleFile(rulesFile)).filter((n) => !served().has(n));
  expect(missing).toEqual([]);
});

test('every metric a dashboard panel or variable uses is served (or recorded by the chart rules)', async () => {
  const known = new Set([...served(), ...(await recordedNamesInRuleFile(rulesFile))]);
  const missing: string[] = [];
  let count = 0;
  for (const file of await dashboardFiles())
    for (const q of await dashboardQueries(file))
      for (const name of metricNamesIn(q.expr)) {
        count++;
        if (!known.has(name)) missing.push(`${q.dashboard} "${q.where}": ${name}`);
      }
  expect(count).toBeGreaterThan(30);
  expect(missing).toEqual([]);
});

/** Families as compared with docs/metrics.md: name, type, and the labels served (a subset of those documented). */
function compare(documented: Map<string, MetricFamily>, exposed: Map<string, MetricFamily>) {
  const names = (m: Map<string, MetricFamily>) => [...m.keys()].sort();
  expect(names(exposed)).toEqual(names(documented));
  for (const [name, family] of exposed) {
    const doc = documented.get(name)!;
    expect({ name, type: family.type }).toEqual({ name, type: doc.type });
    const undocumented = [...family.labels].filter((l) => !doc.labels.has(l));
    expect({ name, undocumented }).toEqual({ name, undocumented: [] });
  }
}

test("docs/metrics.md's worker table is exactly the worker's metrics, with their types and labels", async () => {
  const exposed = exposedFamilies(
    scraped.worker,
    (n) => n.startsWith('wa_worker_') || n === 'process_resident_memory_bytes',
    ['clinic', 'channel'],
  );
  expect(exposed.size).toBeGreaterThan(15);
  compare(await documentedMetrics(metricsDoc, 'Worker'), exposed);
});

test("docs/metrics.md's operator table is exactly the operator's own metrics, with their types and labels", async () => {
  const exposed = exposedFamilies(
    scraped.operator,
    (n) => n.startsWith('wa_operator_') && !/^wa_operator_(process|nodejs)_/.test(n),
    [],
  );
  expect(exposed.size).toBeGreaterThan(5);
  compare(await documentedMetrics(metricsDoc, 'Operator'), exposed);
});
