import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ManagedProcess } from '../process.ts';
import { freePort } from '../ports.ts';

/** One span as the collector's file exporter writes it (OTLP JSON), with its service's name. */
export interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status?: { code?: number; message?: string };
}

export interface Collector {
  /** OTEL_EXPORTER_OTLP_ENDPOINT for a process that sends to it (OTLP over HTTP). */
  endpoint: string;
  /** Every span the collector has written to its file so far. */
  spans(): Promise<ExportedSpan[]>;
  stop(): Promise<void>;
}

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
};
type KeyValue = { key: string; value: AnyValue };
const value = (v: AnyValue) => v.stringValue ?? v.boolValue ?? v.doubleValue ?? Number(v.intValue);
const attrs = (list: KeyValue[] | undefined) =>
  Object.fromEntries((list ?? []).map((a) => [a.key, value(a.value)]));

/**
 * A real OpenTelemetry Collector (test/servers/go/otelcol: the OTLP receiver and the file
 * exporter) on a free loopback port, writing what it receives as OTLP JSON lines into the folder.
 */
export async function startCollector(bin: string, workDir: string): Promise<Collector> {
  const dir = join(workDir, `otelcol-${Date.now().toString(36)}`);
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const output = join(dir, 'traces.jsonl');
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    [
      'receivers:',
      '  otlp:',
      '    protocols:',
      `      http: { endpoint: "127.0.0.1:${port}" }`,
      'exporters:',
      `  file: { path: ${JSON.stringify(output)}, flush_interval: 100ms }`,
      'service:',
      // No telemetry server of its own (it would take port 8888 for every collector).
      '  telemetry: { metrics: { level: none }, logs: { level: warn } }',
      '  pipelines:',
      '    traces: { receivers: [otlp], exporters: [file] }',
      '',
    ].join('\n'),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const process = await ManagedProcess.start({
    name: 'otelcol',
    command: bin,
    args: ['--config', `file:${config}`],
    logFile: join(dir, 'otelcol.log'),
    // Any HTTP answer (405 to a GET) means the OTLP receiver listens.
    ready: async () => {
      const res = await fetch(`${endpoint}/v1/traces`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return res.status > 0;
    },
  });
  return {
    endpoint,
    spans: async () => {
      const text = await readFile(output, 'utf8').catch(() => '');
      const out: ExportedSpan[] = [];
      for (const line of text.split('\n').filter(Boolean)) {
        const doc = JSON.parse(line) as {
          resourceSpans?: {
            resource?: { attributes?: KeyValue[] };
            scopeSpans?: {
              spans?: (Omit<ExportedSpan, 'service' | 'attributes'> & { attributes?: KeyValue[] })[];
            }[];
          }[];
        };
        for (const rs of doc.resourceSpans ?? []) {
          const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '');
          for (const ss of rs.scopeSpans ?? [])
            for (const s of ss.spans ?? [])
              out.push({
                ...s,
                service,
                parentSpanId: s.parentSpanId ?? '',
                attributes: attrs(s.attributes),
              });
        }
      }
      return out;
    },
    stop: () => process.stop(),
  };
}
