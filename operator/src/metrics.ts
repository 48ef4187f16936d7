/** The operator's Prometheus metrics (served on /metrics by health.ts). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PHASES, type WhatsAppChannel } from '../../contract/index.ts';
import type { CacheStats } from './kube/resource-cache.ts';
import type { RolloutSummary } from './controller/rollout-gate.ts';

export interface MetricSources {
  channels: () => WhatsAppChannel[];
  queueDepth: () => number;
  caches: () => Record<string, CacheStats>;
  /** The worker rollout's counts (cluster mode). */
  rollout?: (() => RolloutSummary) | undefined;
}

/**
 * Created at process start (a standby serves process metrics too); the controller binds
 * its sources once it runs.
 */
export function createOperatorMetrics() {
  let sources: MetricSources = { channels: () => [], queueDepth: () => 0, caches: () => ({}) };
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'wa_operator_' });
  const reconciles = new Counter({
    name: 'wa_operator_reconciles_total',
    help: 'Reconciles, by outcome (ok or error)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'wa_operator_reconcile_duration_seconds',
    help: 'Duration of one reconcile',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const writes = new Counter({
    name: 'wa_operator_api_writes_total',
    help: 'Kubernetes API writes, by what was written',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const requests = new Counter({
    name: 'wa_operator_api_requests_total',
    help: 'Kubernetes API requests (reads and writes, not watches), by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'wa_operator_queue_depth',
    help: 'Channels waiting to be reconciled',
    registers: [registry],
    collect() {
      this.set(sources.queueDepth());
    },
  });
  new Gauge({
    name: 'wa_operator_channels',
    help: 'Channels by phase (as last written to their status)',
    labelNames: ['phase'] as const,
    registers: [registry],
    collect() {
      const counts = new Map<string, number>(PHASES.map((p) => [p, 0]));
      for (const c of sources.channels()) {
        const p = c.status?.phase ?? 'Pending';
        counts.set(p, (counts.get(p) ?? 0) + 1);
      }
      for (const [phase, n] of counts) this.set({ phase }, n);
    },
  });
  // Per channel, so that an alert names the channel (bounded: a handful of conditions per channel).
  // Reset on each scrape: a condition whose reason changed leaves no stale series behind.
  new Gauge({
    name: 'wa_operator_channel_condition',
    help: 'Status conditions of each channel (1 per current condition), by namespace, channel, clinic, type, status and reason',
    labelNames: ['namespace', 'channel', 'clinic', 'type', 'status', 'reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of sources.channels())
        for (const cond of c.status?.conditions ?? [])
          this.set(
            {
              namespace: c.metadata?.namespace ?? '',
              channel: c.metadata?.name ?? '',
              clinic: c.spec?.clinicId ?? '',
              type: cond.type,
              status: cond.status,
              reason: cond.reason ?? '',
            },
            1,
          );
    },
  });
  // The worker rollout, as counted from the channels' marks (controller/rollout-gate.ts).
  new Gauge({
    name: 'wa_operator_rollout_channels',
    help: 'Channels in the rollout of the current worker revision, by state: replacing, done, failed, resumed, waiting (held back, on the old worker)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const summary = sources.rollout?.();
      if (!summary) return;
      const { replacing, done, failed, resumed } = summary.counts;
      const states = { replacing, done, failed, resumed, waiting: summary.waiting };
      for (const [state, n] of Object.entries(states)) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'wa_operator_rollout_halted',
    help: '1 while the rollout of the current worker revision is halted (too many channels failed), else 0',
    labelNames: ['revision'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const summary = sources.rollout?.();
      if (summary) this.set({ revision: summary.revision }, summary.halted ? 1 : 0);
    },
  });
  // A standby serves metrics too: `max(wa_operator_leader) == 0` across replicas means nobody leads.
  const leader = new Gauge({
    name: 'wa_operator_leader',
    help: '1 while this replica holds the leader lease (or runs without leader election), 0 otherwise',
    registers: [registry],
  });
  leader.set(0);
  new Gauge({
    name: 'wa_operator_cache_events',
    help: 'List/watch cache counters: lists, watches, silent watches dropped, 410 Gone, errors',
    labelNames: ['cache', 'event'] as const,
    registers: [registry],
    collect() {
      for (const [cache, stats] of Object.entries(sources.caches()))
        for (const [event, n] of Object.entries(stats)) this.set({ cache, event }, n);
    },
  });
  return {
    registry,
    reconciles,
    duration,
    writes,
    requests,
    leader,
    bind: (s: MetricSources) => {
      sources = s;
    },
  };
}
export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
