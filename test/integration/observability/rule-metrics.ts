/**
 * The metric names an alert rule file or a dashboard uses, found by Prometheus' own PromQL
 * grammar (@prometheus-io/lezer-promql, the parser of Prometheus' web UI), and the metric names
 * a Prometheus exposition declares, so a test can hold the one against the other: a metric
 * renamed in the code, or misspelt in a rule or a panel, breaks the test.
 */
import { readFile } from 'node:fs/promises';
import { parser } from '@prometheus-io/lezer-promql';
import { parse } from 'yaml';

export interface ParsedPromQL {
  /** Where the grammar found an error, as `offset: text around it`; empty when the expression parses. */
  errors: string[];
  /** Names of the metrics the expression selects (the identifiers of its vector selectors). */
  metrics: string[];
}

/** Parses one PromQL expression. */
export function parsePromQL(expr: string): ParsedPromQL {
  const errors: string[] = [];
  const metrics = new Set<string>();
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError)
        errors.push(
          `${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 20), node.from + 20))}`,
        );
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector')
        metrics.add(expr.slice(node.from, node.to));
    },
  });
  if (expr.trim() === '') errors.push('0: empty expression');
  return { errors, metrics: [...metrics] };
}

/** Metric names in one PromQL expression; throws when it does not parse. */
export function metricNamesIn(expr: string): string[] {
  const { errors, metrics } = parsePromQL(expr);
  if (errors.length > 0) throw new Error(`PromQL does not parse at ${errors.join(', ')}:\n${expr}`);
  return metrics;
}

type RuleFile = { groups: { rules: { expr: string; record?: string }[] }[] };

/** The names the rule file's recording rules record. */
export async function recordedNamesInRuleFile(file: string): Promise<Set<string>> {
  const doc = parse(await readFile(file, 'utf8')) as RuleFile;
  return new Set(doc.groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
}

/**
 * Every metric name the rules of a Prometheus rule file use, sorted, without the names its own
 * recording rules make (those are checked through the expressions that record them).
 */
export async function metricNamesInRuleFile(file: string): Promise<string[]> {
  const doc = parse(await readFile(file, 'utf8')) as RuleFile;
  const recorded = await recordedNamesInRuleFile(file);
  const names = doc.groups.flatMap((g) => g.rules.flatMap((r) => metricNamesIn(String(r.expr))));
  return [...new Set(names)].filter((n) => !recorded.has(n)).sort();
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
