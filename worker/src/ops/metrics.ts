/**
 * Prometheus metrics of one worker (one channel). The clinic and channel are default labels so
 * that scraping many pods needs no relabelling.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PHASES, type Phase } from '../session/phase-machine.ts';
import { credentialExpiries, type CredentialSources } from './credential-expiry.ts';
import { PhaseClock } from './phase-clock.ts';

export function createMetrics(
  labels: { clinic: string; channel: string },
  credentials: CredentialSources = {},
) {
  const registry = new Registry();
  // Made once the counter exists; the counter's collect() brings it up to date at each scrape.
  const clock: { current?: PhaseClock } = {};
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    phase: new Gauge({
      name: 'wa_worker_phase',
      help: 'Current session phase (1 for the current phase, 0 otherwise)',
      labelNames: ['phase'] as const,
      registers: [registry],
    }),
    degraded: new Gauge({
      name: 'wa_worker_degraded',
      help: '1 while the reconnect loop or a dependency (S3, NATS) is failing',
      registers: [registry],
    }),
    reconnects: new Counter({
      name: 'wa_worker_reconnects_total',
      help: 'Socket closes followed by a reconnect decision, by reason',
      labelNames: ['reason', 'decision'] as const,
      registers: [registry],
    }),
    // Seconds spent in each phase: rate(...{phase="Connected"}[w]) is the share of time connected,
    // from which the chart's SLA recording rules and burn-rate alerts are computed.
    phaseSeconds: new Counter({
      name: 'wa_worker_phase_seconds_total',
      help: 'Seconds spent in each session phase (Connected: the connected time for uptime and SLA)',
      labelNames: ['phase'] as const,
      registers: [registry],
      collect() {
        clock.current?.flush();
      },
    }),
    credentialExpiry: new Gauge({
      name: 'wa_worker_credential_expiry_timestamp_seconds',
      help: 'When a credential the worker presents expires (unix seconds), by credential: nats, aws-env',
      labelNames: ['credential'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const [credential, exp] of await credentialExpiries(credentials)) this.set({ credential }, exp);
      },
    }),
    messagesIn: new Counter({
      name: 'wa_worker_messages_in_total',
      help: 'Inbound messages stored in JetStream',
      registers: [registry],
    }),
    messagesOut: new Counter({
      name: 'wa_worker_messages_out_total',
      help: 'Messages sent by command',
      registers: [registry],
    }),
    mediaIn: new Counter({
      name: 'wa_worker_media_in_total',
      help: 'Inbound attachments, by outcome (stored, failed, too-large, retried)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    decryptFailures: new Counter({
      name: 'wa_worker_decrypt_failures_total',
      help: 'Inbound messages Baileys could not decrypt, by error',
      labelNames: ['error'] as const,
      registers: [registry],
    }),
    storeLatency: new Histogram({
      name: 'wa_worker_store_operation_seconds',
      help: 'Latency of auth state operations',
      labelNames: ['op', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    kmsCalls: new Counter({
      name: 'wa_worker_kms_calls_total',
      help: 'Calls to KMS, by operation and outcome',
      labelNames: ['op', 'outcome'] as const,
      registers: [registry],
    }),
    outboxSize: new Gauge({
      name: 'wa_worker_outbox_events',
      help: 'Events waiting for JetStream',
      registers: [registry],
    }),
    // The alert on a filling outbox divides by this (WA_OUTBOX_CAPACITY differs per deployment).
    outboxCapacity: new Gauge({
      name: 'wa_worker_outbox_capacity',
      help: 'Events the outbox holds before it refuses more (WA_OUTBOX_CAPACITY)',
      registers: [registry],
    }),
    eventsPublished: new Counter({
      name: 'wa_worker_events_published_total',
      help: 'Events stored in JetStream, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    eventsDropped: new Counter({
      name: 'wa_worker_events_dropped_total',
      help: 'Events refused because the outbox was full (should stay 0)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    publishFailures: new Counter({
      name: 'wa_worker_nats_publish_failures_total',
      help: 'Failed JetStream publish attempts (retried)',
      registers: [registry],
    }),
    commands: new Counter({
      name: 'wa_worker_commands_total',
      help: 'Commands received, by verb and outcome',
      labelNames: ['verb', 'outcome'] as const,
      registers: [registry],
    }),
    commandDuration: new Histogram({
      name: 'wa_worker_command_duration_seconds',
      help: 'Time from receiving a command to replying, by verb (errors: wa_worker_commands_total)',
      labelNames: ['verb'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    qrCodes: new Counter({
      name: 'wa_worker_qr_codes_total',
      help: 'QR codes and pairing codes published',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    recycles: new Counter({
      name: 'wa_worker_recycles_total',
      help: 'Deaf sessions recycled, by signal',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sendQueueDepth: new Gauge({
      name: 'wa_worker_send_queue_depth',
      help: 'Sends waiting for their turn under the send policy (pacing)',
      registers: [registry],
    }),
    sendRate: new Gauge({
      name: 'wa_worker_send_rate_per_minute',
      help: "The send rate in force: the policy's, or less after WhatsApp refused for rate",
      registers: [registry],
    }),
    sendThrottled: new Gauge({
      name: 'wa_worker_send_throttled',
      help: '1 while the channel sends below its policy because WhatsApp refused for rate',
      registers: [registry],
    }),
    sendsRateLimited: new Counter({
      name: 'wa_worker_sends_rate_limited_total',
      help: 'Sends refused with RateLimited, by what held them back',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    whatsappRateRefusals: new Counter({
      name: 'wa_worker_whatsapp_rate_refusals_total',
      help: 'Refusals for rate by WhatsApp itself (rate-overlimit, ack errors 429 and 463)',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    newContactsToday: new Gauge({
      name: 'wa_worker_new_contacts_24h',
      help: 'First messages to new contacts in the last 24 hours (the daily cap counts these)',
      registers: [registry],
    }),
    breakerState: new Gauge({
      name: 'wa_worker_circuit_open',
      help: '1 while the circuit breaker in front of a dependency is open',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
  };
  clock.current = new PhaseClock(m.phaseSeconds);
  return { ...m, phaseClock: clock.current };
}

export type Metrics = ReturnType<typeof createMetrics>;

export function setPhase(metrics: Metrics, phase: Phase): void {
  for (const p of PHASES) metrics.phase.set({ phase: p }, p === phase ? 1 : 0);
  metrics.phaseClock.enter(phase);
}
