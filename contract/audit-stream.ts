/**
 * The audit trail's stream: every event on `wa-audit.>` is stored by JetStream in the platform
 * account, so an audited action (credential issued, command answered, state erased) is on the
 * trail whether or not anything was listening when it happened. Clinic accounts import nothing
 * of it (docs/security.md, T6): only platform credentials read it.
 *
 * Its name is outside `WA_…`, the clinic streams' prefix, so no clinic id can collide with it.
 * Nothing may delete or purge its messages through the API (`deny_delete`, `deny_purge`); they
 * leave only when they are older than the retention. Events carry no message text, keys or
 * credentials, so keeping them long is safe.
 */
import { ensureStreamSettings } from './stream-settings.ts';
import type { JetStreamManager, StreamConfig } from 'nats';
import { AUDIT_ROOT } from './subjects.ts';

export const AUDIT_STREAM = 'PLATFORM_AUDIT';
/** Default retention of audit events (WA_AUDIT_RETENTION_DAYS overrides it). */
export const AUDIT_RETENTION_DAYS = 400;
/** A re-sent event (same `Nats-Msg-Id`) within this window is stored once. */
const DUPLICATE_WINDOW_NS = 10 * 60 * 1e9;

export function auditStreamConfig(
  retentionDays = AUDIT_RETENTION_DAYS,
): Partial<StreamConfig> & { name: string } {
  return {
    name: AUDIT_STREAM,
    subjects: [`${AUDIT_ROOT}.>`],
    max_age: retentionDays * 24 * 3600 * 1e9,
    duplicate_window: DUPLICATE_WINDOW_NS,
    deny_delete: true,
    deny_purge: true,
  };
}

/** Creates the audit stream, or brings an existing one to these settings. */
export async function ensureAuditStream(
  jsm: JetStreamManager,
  retentionDays = AUDIT_RETENTION_DAYS,
): Promise<'created' | 'updated' | 'unchanged'> {
  return ensureStreamSettings(jsm, auditStreamConfig(retentionDays));
}
