import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dashboardFiles, dashboardQueries, dashboardsDir, withGrafanaVariables } from './dashboards.ts';
import { parsePromQL } from './rule-metrics.ts';

/**
 * Every PromQL expression of the chart's Grafana dashboards parses with Prometheus' own PromQL
 * grammar (@prometheus-io/lezer-promql): no error node anywhere. That the metrics they name are
 * served by real processes is checked in metrics-exist.test.ts.
 */
test('the chart ships a fleet overview and a per-clinic dashboard with the clinic as a variable', async () => {
  expect(await dashboardFiles()).toEqual(['clinic.json', 'fleet-overview.json']);
  const clinic = JSON.parse(await readFile(join(dashboardsDir, 'clinic.json'), 'utf8')) as {
    uid: string;
    templating: { list: { name: string }[] };
  };
  expect(clinic.templating.list.map((v) => v.name)).toEqual(['datasource', 'clinic', 'channel']);
  const uids = await Promise.all(
    (await dashboardFiles()).map(
      async (f) => (JSON.parse(await readFile(join(dashboardsDir, f), 'utf8')) as { uid: string }).uid,
    ),
  );
  expect(new Set(uids).size).toBe(uids.length);
});

test('every panel and variable query parses as PromQL', async () => {
  const failures: string[] = [];
  let count = 0;
  for (const file of await dashboardFiles())
    for (const q of await dashboardQueries(file)) {
      count++;
      const { errors } = parsePromQL(q.expr);
      if (errors.length > 0) failures.push(`${q.dashboard} "${q.where}": ${errors.join('; ')}\n  ${q.expr}`);
    }
  expect(count).toBeGreaterThan(30);
  expect(failures).toEqual([]);
});

test('the parser finds errors (the check above can fail)', () => {
  expect(parsePromQL('sum by (channel) (rate(x_total{clinic="a"outcome="b"}[5m]))').errors).not.toEqual([]);
  expect(parsePromQL('sum(rate(x_total[5m])').errors).not.toEqual([]);
  expect(
    parsePromQL(withGrafanaVariables('rate(x_total{clinic="$clinic"}[$__rate_interval])')).errors,
  ).toEqual([]);
});
