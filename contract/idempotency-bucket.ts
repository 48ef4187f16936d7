/**
 * A clinic's send log: the JetStream key-value bucket where the workers of a clinic remember
 * each `cmd.send` idempotency key for a window (default 24 h), so that a send retried after a
 * worker crash or a lease takeover is answered from the record instead of reaching the patient
 * twice (docs/contract.md, "Idempotency"). Created by the platform like the clinic stream: by
 * the operator when it issues NATS credentials, else by each worker at start.
 *
 * One bucket per clinic, keys scoped by channel: `<channel>.<sha256 of the idempotency key>`.
 * A worker's NATS user may write and read exactly its own channel's keys
 * (operator/src/nats/credentials.ts); the bucket is in the platform account and no clinic
 * account imports it. Hashing the key keeps the backend's key alphabet (`:` is not a KV key
 * character) and says nothing about the key.
 *
 * The bucket refuses rollup headers: a worker publishing `Nats-Rollup: all` onto its own key
 * would otherwise purge every other channel's records.
 */
import { createHash } from 'node:crypto';
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from 'nats';
import { ensureStreamSettings } from './stream-settings.ts';
import { assertToken } from './tokens.ts';

/** Default window during which a retried send is answered from the record. */
export const IDEMPOTENCY_WINDOW_HOURS = 24;
/** A record is a small JSON document; anything larger is refused by the stream. */
const MAX_RECORD_BYTES = 4096;

/** `IDEM_<CLINIC>`: outside `WA_…`, the clinic streams' prefix (its stream is `KV_IDEM_<CLINIC>`). */
export function idempotencyBucketName(clinicId: string): string {
  return `IDEM_${assertToken('clinicId', clinicId).toUpperCase().replace(/-/g, '_')}`;
}

/** The JetStream stream behind the bucket. */
export function idempotencyStreamName(clinicId: string): string {
  return `KV_${idempotencyBucketName(clinicId)}`;
}

/** `$KV.IDEM_<CLINIC>.<channel>`: the subject prefix of one channel's records. */
export function idempotencySubjectPrefix(clinicId: string, channelId: string): string {
  return `$KV.${idempotencyBucketName(clinicId)}.${assertToken('channelId', channelId)}`;
}

/** The bucket key of one idempotency key of a channel. */
export function idempotencyRecordKey(channelId: string, idempotencyKey: string): string {
  const digest = createHash('sha256').update(idempotencyKey).digest('hex');
  return `${assertToken('channelId', channelId)}.${digest}`;
}

/**
 * The key of the clinic's shared send budget (worker/src/pacing/clinic-budget.ts) in the same
 * bucket: it starts with `_`, which no channel id can, so it is no channel's record.
 */
export const CLINIC_SEND_BUDGET_KEY = '_clinic.send-budget';

/** A clinic's send budget when the operator sets none: per minute, and back to back. */
export const DEFAULT_CLINIC_SEND_BUDGET = { ratePerMinute: 120, burst: 30 } as const;
/** The bounds of each field of a clinic's send budget (operator and worker check the same). */
export const CLINIC_SEND_BUDGET_LIMITS = { ratePerMinute: [1, 60_000], burst: [1, 10_000] } as const;

/** `$KV.IDEM_<CLINIC>._clinic.send-budget`: the subject every worker of the clinic may write. */
export function clinicSendBudgetSubject(clinicId: string): string {
  return `$KV.${idempotencyBucketName(clinicId)}.${CLINIC_SEND_BUDGET_KEY}`;
}

export function idempotencyBucketConfig(
  clinicId: string,
  windowHours = IDEMPOTENCY_WINDOW_HOURS,
): Partial<StreamConfig> & { name: string } {
  const maxAgeNs = windowHours * 3600 * 1e9;
  return {
    name: idempotencyStreamName(clinicId),
    subjects: [`$KV.${idempotencyBucketName(clinicId)}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    // What makes a stream a key-value bucket: the latest record per key.
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.New,
    allow_direct: true,
    max_age: maxAgeNs,
    max_msg_size: MAX_RECORD_BYTES,
    // As nats.js makes buckets: dedupe re-sent writes for at most two minutes.
    duplicate_window: Math.min(maxAgeNs, 2 * 60 * 1e9),
    allow_rollup_hdrs: false,
    deny_delete: true,
    deny_purge: true,
  };
}

/** Creates the clinic's bucket, or brings an existing one to this window and these settings. */
export async function ensureIdempotencyBucket(
  jsm: JetStreamManager,
  clinicId: string,
  windowHours = IDEMPOTENCY_WINDOW_HOURS,
): Promise<'created' | 'updated' | 'unchanged'> {
  return ensureStreamSettings(jsm, idempotencyBucketConfig(clinicId, windowHours));
}
