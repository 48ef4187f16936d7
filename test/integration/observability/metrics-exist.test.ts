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
import { exposedMetricNames, metricNamesIn, metricNamesInRuleFile } from './rule-metrics.ts';

/**
 * Every metric the chart's alert rules use is served on /metrics by a real worker process or a
 * real operator process (`node worker/src/main.ts`, `node operator/src/main.ts`) against the real
 * servers: rename a metric in the code, or misspell one in a rule, and this fails.
 */
const stack = testStack();
const kubectl = adminKubectl();
const rulesFile = join(repoRoot, 'charts/whatsapp-operator/files/prometheus-rules.yaml');
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
    30_000,
  );
  return text;
}

async function startWorker(): Promise<string> {
  const storage = await realStorage('obs-metrics');
  const trustRoot = join(stack.workDir, `${clinic}-trust-root.hex`);
  writeFileSync(trustRoot, randomBytes(32).toString('hex'));
  const port = await freePort();
  const worker = spawnNode('worker/src/main.ts', {
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
  const names = await metricNamesInRuleFile(rulesFile);
  expect(names.length).toBeGreaterThan(10);
  for (const n of names) expect(n).toMatch(/^wa_(worker|operator)_[a-z_]+$/);
});

test('every metric an alert rule uses is served by a real worker or a real operator', async () => {
  const ns = `${clinic}-ns`;
  await prepareNamespace(kubectl, ns, [`whatsapp.clinic.dev/clinic=${clinic}`]);
  const [workerUrl, operatorUrl] = await Promise.all([startWorker(), startOperator(ns)]);

  // The operator's own series: it leads (a single replica) and reports a channel's conditions.
  await applyChannel(kubectl, stack.workDir, ns, 'reception', { clinicId: clinic });
  // The worker serves /metrics before its event sink exists (start-up step 2 and 3, worker.md).
  let worker = '';
  await eventually(
    'the worker to report its outbox capacity',
    async () => {
      worker = await scrape(workerUrl);
      return /^wa_worker_outbox_capacity\{clinic="[^"]+",channel="reception"\} 1000$/m.test(worker);
    },
    30_000,
  );
  let operator = '';
  await eventually(
    'the operator to lead and report the channel conditions',
    async () => {
      operator = await scrape(operatorUrl);
      return (
        /^wa_operator_leader 1$/m.test(operator) &&
        new RegExp(
          `^wa_operator_channel_condition\\{namespace="${ns}",channel="reception",clinic="${clinic}",type="WorkerRunning",status="False",reason="[A-Za-z]+"\\} 1$`,
          'm',
        ).test(operator)
      );
    },
    30_000,
  );

  const served = new Set([...exposedMetricNames(worker), ...exposedMetricNames(operator)]);
  const missing = (await metricNamesInRuleFile(rulesFile)).filter((n) => !served.has(n));
  expect(missing).toEqual([]);
});
