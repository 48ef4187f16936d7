import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { repoRoot } from '../../harness/paths.ts';
import { testStack } from '../../harness/stack.ts';

/**
 * The chart's alert rules (charts/whatsapp-operator/files/prometheus-rules.yaml) run by the real
 * `promtool test rules` (built by the harness from the module proxy): alerts.test.yaml holds, for
 * every alert, one case where it fires with its labels and rendered annotations and one near miss
 * where it must stay quiet.
 */
const stack = testStack();
const run = promisify(execFile);
const rulesFile = join(repoRoot, 'charts/whatsapp-operator/files/prometheus-rules.yaml');
const testsFile = join(import.meta.dirname, 'alerts.test.yaml');

type Rules = { groups: { rules: { alert?: string }[] }[] };
type RuleTests = {
  rule_files: string[];
  tests: { name: string; alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
};

test('promtool checks the rule file', async () => {
  const { stdout } = await run(stack.bins.promtool, ['check', 'rules', rulesFile]);
  expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
});

test('promtool runs the alert unit tests, and they pass', async () => {
  const { stdout } = await run(stack.bins.promtool, ['test', 'rules', testsFile], {
    cwd: import.meta.dirname,
  });
  expect(stdout).toContain('SUCCESS');
});

test('every alert has a firing case and a quiet case', async () => {
  const rules = parse(await readFile(rulesFile, 'utf8')) as Rules;
  const tests = parse(await readFile(testsFile, 'utf8')) as RuleTests;
  const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a) => a !== undefined);
  for (const alert of alerts) {
    const cases = tests.tests.flatMap((t) => t.alert_rule_test.filter((c) => c.alertname === alert));
    expect({ alert, fires: cases.some((c) => c.exp_alerts.length > 0) }).toEqual({ alert, fires: true });
    expect({ alert, quiet: cases.some((c) => c.exp_alerts.length === 0) }).toEqual({ alert, quiet: true });
  }
});

test('a broken rule fails the unit tests (promtool is not passing everything)', async () => {
  // The same tests against a copy of the rules where one alert's threshold never holds.
  const dir = join(stack.workDir, `broken-rules-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  const rules = (await readFile(rulesFile, 'utf8')).replace(
    'sum by (clinic, channel) (increase(wa_worker_events_dropped_total[10m])) > 0',
    'sum by (clinic, channel) (increase(wa_worker_events_dropped_total[10m])) > 1000000',
  );
  expect(rules).toContain('> 1000000');
  await writeFile(join(dir, 'rules.yaml'), rules);
  const tests = parse(await readFile(testsFile, 'utf8')) as RuleTests;
  tests.rule_files = ['rules.yaml'];
  await writeFile(join(dir, 'tests.yaml'), JSON.stringify(tests));
  const failed = await run(stack.bins.promtool, ['test', 'rules', 'tests.yaml'], { cwd: dir }).then(
    () => undefined,
    (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
  );
  expect(failed).toMatch(/WAWorkerEventsDropped/);
  expect(failed).toContain('FAILED');
});
