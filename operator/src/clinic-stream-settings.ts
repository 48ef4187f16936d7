/**
 * The per-clinic JetStream settings the platform applies: a clinic stream's retention (the
 * operator's default, or the clinic's own in `WA_CLINIC_STREAM_RETENTION`) and the send log's
 * window. The operator applies them when it creates the streams (issued credentials); a worker
 * that creates its clinic's streams itself gets them in its environment instead.
 */
import { CLINIC_STREAM_RETENTION_DAYS, IDEMPOTENCY_WINDOW_HOURS } from '../../contract/index.ts';
import type { OperatorConfig } from './config.ts';

type Settings = OperatorConfig['clinicStreams'];

export function clinicRetentionDays(settings: Settings, clinicId: string): number {
  return settings.clinicRetentionDays[clinicId] ?? settings.retentionDays;
}

/**
 * The worker variables for a clinic, only where they differ from the worker's own defaults: a
 * platform on the defaults changes no pod spec (which would replace every worker).
 */
export function clinicStreamWorkerEnv(settings: Settings, clinicId: string): Record<string, string> {
  const days = clinicRetentionDays(settings, clinicId);
  return {
    ...(days === CLINIC_STREAM_RETENTION_DAYS ? {} : { WA_CLINIC_STREAM_RETENTION_DAYS: String(days) }),
    ...(settings.idempotencyWindowHours === IDEMPOTENCY_WINDOW_HOURS
      ? {}
      : { WA_IDEMPOTENCY_WINDOW_HOURS: String(settings.idempotencyWindowHours) }),
  };
}
