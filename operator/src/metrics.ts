/** The operator's Prometheus metrics (served on /metrics by http.ts). */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PHASES, type WhatsAppChannel } from '../../contract/index.ts';

export function createOperatorMetrics(channels: () => WhatsAppChannel[], queueDepth: () => number) {
  const registry = new Registry();
  const reconciles = new Counter({
    name: 'wa_operator_reconciles_total',
    help: 'Reconciles, by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'wa_operator_reconcile_seconds',
    help: 'Reconcile duration',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const writes = new Counter({
    name: 'wa_operator_api_writes_total',
    help: 'Kubernetes API writes, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'wa_operator_queue_depth',
    help: 'Channels waiting to be reconciled',
    registers: [registry],
    collect() {
      this.set(queueDepth());
    },
  });
  new Gauge({
    name: 'wa_operator_channels',
    help: 'Channels by phase',
    labelNames: ['phase'] as const,
    registers: [registry],
    collect() {
      const counts = new Map<string, number>(PHASES.map((p) => [p, 0]));
      for (const c of channels()) {
        const p = c.status?.phase ?? 'Pending';
        counts.set(p, (counts.get(p) ?? 0) + 1);
      }
      for (const [phase, n] of counts) this.set({ phase }, n);
    },
  });
  return { registry, reconciles, duration, writes };
}
export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
