/**
 * The metric names an alert rule file uses, and the metric names a Prometheus exposition
 * declares, so a test can hold the one against the other: a metric renamed in the code, or
 * misspelt in a rule, breaks the test.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'vector', 'inf', 'nan']);

/** Metric names in one PromQL expression (anything that is not a function, keyword or label). */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '') // label lists
    .replace(/\[[^\]]*\]/g, ''); // ranges
  const names = new Set<string>();
  for (const m of bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, word, call] = m;
    if (call || PROMQL_WORDS.has(word!.toLowerCase())) continue;
    names.add(word!);
  }
  return [...names];
}

/** Every metric name the rules of a Prometheus rule file use, sorted. */
export async function metricNamesInRuleFile(file: string): Promise<string[]> {
  const doc = parse(await readFile(file, 'utf8')) as { groups: { rules: { expr: string }[] }[] };
  const names = doc.groups.flatMap((g) => g.rules.flatMap((r) => metricNamesIn(String(r.expr))));
  return [...new Set(names)].sort();
}

/**
 * Metric names an exposition declares (`# TYPE` lines); a histogram or summary also serves
 * its _bucket, _sum and _count series.
 */
export function exposedMetricNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m;
    names.add(name!);
    if (type === 'histogram' || type === 'summary')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(name! + suffix);
  }
  return names;
}
