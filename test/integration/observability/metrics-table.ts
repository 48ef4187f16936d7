/**
 * docs/metrics.md's tables of metrics, and the metric families of an exposition, in one shape,
 * so a test can compare what is documented with what a real process serves.
 */
import { readFile } from 'node:fs/promises';

export interface MetricFamily {
  name: string;
  type: string;
  /** Labels of the family's series, without the default labels and histogram `le`. */
  labels: Set<string>;
}

/** The rows `| \`name\` | type | \`label\`, … | meaning |` of the table under a `## <section>` heading. */
export async function documentedMetrics(file: string, section: string): Promise<Map<string, MetricFamily>> {
  const text = await readFile(file, 'utf8');
  const start = text.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`${file}: no section "## ${section}"`);
  const end = text.indexOf('\n## ', start + 1);
  const out = new Map<string, MetricFamily>();
  for (const line of text.slice(start, end < 0 ? undefined : end).split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const name = /^`([a-z_:][a-z0-9_:]*)`$/.exec(cells[1] ?? '')?.[1];
    if (!name || cells.length < 6) continue;
    const labels = new Set([...cells[3]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!));
    out.set(name, { name, type: cells[2]!, labels });
  }
  return out;
}

/**
 * The families an exposition declares (`# TYPE`) whose names `keep` accepts, with the labels
 * their series carry, less `defaultLabels` and the `le`/`quantile` of histograms and summaries.
 */
export function exposedFamilies(
  exposition: string,
  keep: (name: string) => boolean,
  defaultLabels: string[],
): Map<string, MetricFamily> {
  const out = new Map<string, MetricFamily>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm))
    if (keep(m[1]!)) out.set(m[1]!, { name: m[1]!, type: m[2]!, labels: new Set() });
  const ignored = new Set([...defaultLabels, 'le', 'quantile']);
  for (const m of exposition.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? \S+$/gm)) {
    const family = out.get(m[1]!) ?? out.get(m[1]!.replace(/_(bucket|sum|count)$/, '')) ?? undefined;
    if (!family) continue;
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g))
      if (!ignored.has(l[1]!)) family.labels.add(l[1]!);
  }
  return out;
}
