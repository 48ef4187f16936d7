/**
 * How long a clinic's workers keep stored attachments: the operator's default
 * (`WA_MEDIA_RETENTION_DAYS`) or the clinic's own (`WA_MEDIA_RETENTION`). Each worker enforces it
 * on its channel's media with an hourly sweep (docs/state-store.md, "Media").
 */
import { MEDIA_RETENTION_DAYS } from '../../contract/state-layout.ts';
import type { OperatorConfig } from './config.ts';

export function mediaRetentionDays(settings: OperatorConfig['media'], clinicId: string): number {
  return settings.clinicRetentionDays[clinicId] ?? settings.retentionDays;
}

/** The worker variable, only when not the worker's default: a platform on the defaults changes no pod spec. */
export function mediaWorkerEnv(settings: OperatorConfig['media'], clinicId: string): Record<string, string> {
  const days = mediaRetentionDays(settings, clinicId);
  return days === MEDIA_RETENTION_DAYS ? {} : { WA_MEDIA_RETENTION_DAYS: String(days) };
}
