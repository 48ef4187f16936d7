/**
 * The PromQL of the chart's Grafana dashboards (charts/whatsapp-operator/dashboards/*.json):
 * every panel target's `expr` and every query variable's `label_values(...)` selector, with
 * Grafana's variables replaced by values PromQL accepts, so Prometheus' own parser can check them.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../harness/paths.ts';

export const dashboardsDir = join(repoRoot, 'charts/whatsapp-operator/dashboards');

export interface DashboardQuery {
  dashboard: string;
  /** The panel title, or `variable <name>`. */
  where: string;
  expr: string;
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}
interface Dashboard {
  panels?: Panel[];
  templating?: { list?: { name: string; type: string; query?: string | { query?: string } }[] };
}

/** Grafana's range variables become a duration; `$var` and `${var}` stay only inside label values. */
export function withGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g, '5m');
}

export async function dashboardFiles(): Promise<string[]> {
  return (await readdir(dashboardsDir)).filter((f) => f.endsWith('.json')).sort();
}

export async function dashboardQueries(file: string): Promise<DashboardQuery[]> {
  const doc = JSON.parse(await readFile(join(dashboardsDir, file), 'utf8')) as Dashboard;
  const out: DashboardQuery[] = [];
  const walk = (panels: Panel[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? [])
        out.push({
          dashboard: file,
          where: p.title ?? '(untitled)',
          expr: withGrafanaVariables(t.expr ?? ''),
        });
      walk(p.panels);
    }
  };
  walk(doc.panels);
  for (const v of doc.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const query = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    // label_values(<series selector>, <label>): the selector is PromQL.
    const selector = /^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$/.exec(query.trim())?.[1];
    out.push({ dashboard: file, where: `variable ${v.name}`, expr: withGrafanaVariables(selector ?? query) });
  }
  return out;
}
