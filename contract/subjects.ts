/**
 * NATS subjects and JetStream streams (docs/contract.md, "Subjects"). Every subject of a
 * clinic starts with `wa.<clinic>.`, so one permission `wa.<clinic>.>` covers exactly
 * that clinic and nothing else.
 */
import { assertToken } from './tokens.ts';

export const SUBJECT_ROOT = 'wa';
/** Platform-only audit trail: never under `wa.`, so no clinic permission can reach it. */
export const AUDIT_ROOT = 'wa-audit';

/**
 * Every verb is one subject token (`cmd.group-info`, not `cmd.group.info`): permissions and the
 * worker's subscription are `cmd.*`.
 */
export const COMMAND_VERBS = [
  'send',
  'pair',
  'logout',
  'read',
  'presence',
  'react',
  'edit',
  'delete',
  'check',
  'group-info',
  'media-get',
  'media-fetch',
  'media-upload',
] as const;
export type CommandVerb = (typeof COMMAND_VERBS)[number];

/** The events a channel publishes, as the last tokens of `wa.<clinic>.<channel>.<kind>`. */
export const EVENT_KINDS = ['status', 'qr', 'msg.in', 'msg.update'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];
/** QR codes expire within seconds: they are never stored. */
export const STORED_EVENT_KINDS: readonly EventKind[] = EVENT_KINDS.filter((k) => k !== 'qr');

export type ChannelSubjectKind = EventKind | 'cmd';

/**
 * Where a clinic account sees the platform's JetStream API (its imports map this prefix to the
 * platform's `$JS.API`): `nc.jetstream({ apiPrefix })`, `jetstreamManager({ apiPrefix, checkAPI:
 * false })`, or `wa --js-api-prefix`.
 */
export const CLINIC_JS_API_PREFIX = 'JS.WA.API';

export interface ChannelSubjects {
  status: string;
  qr: string;
  msgIn: string;
  msgUpdate: string;
  /** `wa.<clinic>.<channel>.cmd.<verb>` */
  command(verb: string): string;
  /** Subscription to every command of the channel: `wa.<clinic>.<channel>.cmd.*` */
  commands: string;
  /** Everything of the channel: `wa.<clinic>.<channel>.>` */
  all: string;
}

export function channelSubjects(clinicId: string, channelId: string): ChannelSubjects {
  const base = `${SUBJECT_ROOT}.${assertToken('clinicId', clinicId)}.${assertToken('channelId', channelId)}`;
  return {
    status: `${base}.status`,
    qr: `${base}.qr`,
    msgIn: `${base}.msg.in`,
    msgUpdate: `${base}.msg.update`,
    command: (verb: string) => `${base}.cmd.${assertVerbToken(verb)}`,
    commands: `${base}.cmd.*`,
    all: `${base}.>`,
  };
}

/** `wa.<clinic>.>`: everything of one clinic (its backend credential's whole permission). */
export function clinicWildcard(clinicId: string): string {
  return `${SUBJECT_ROOT}.${assertToken('clinicId', clinicId)}.>`;
}

/** Status of every channel of every clinic, for the operator: `wa.*.*.status`. */
export const ALL_STATUS_SUBJECTS = `${SUBJECT_ROOT}.*.*.status`;

export function auditSubject(clinicId: string, channelId: string): string {
  return `${AUDIT_ROOT}.${assertToken('clinicId', clinicId)}.${assertToken('channelId', channelId)}`;
}

/**
 * The inbox prefix of a channel's worker (`_INBOX_<clinic>_<channel>`), used for its
 * JetStream publish acks: its NATS user may subscribe to this prefix only, never to the
 * shared `_INBOX.>` where other users' replies pass. Ids never contain `_`, so no two
 * channels share a prefix.
 */
export function workerInboxPrefix(clinicId: string, channelId: string): string {
  return `_INBOX_${assertToken('clinicId', clinicId)}_${assertToken('channelId', channelId)}`;
}

export interface ParsedSubject {
  clinicId: string;
  channelId: string;
  kind: ChannelSubjectKind;
  /** For commands: the verb. */
  verb?: string;
}

/** The inverse of channelSubjects; undefined for anything that is not a channel subject. */
export function parseSubject(subject: string): ParsedSubject | undefined {
  const parts = subject.split('.');
  if (parts[0] !== SUBJECT_ROOT || parts.length < 4) return undefined;
  const [, clinicId, channelId, ...rest] = parts as [string, string, string, ...string[]];
  if (!isSafeToken(clinicId) || !isSafeToken(channelId)) return undefined;
  const tail = rest.join('.');
  if ((EVENT_KINDS as readonly string[]).includes(tail))
    return { clinicId, channelId, kind: tail as EventKind };
  if (rest.length === 2 && rest[0] === 'cmd' && rest[1])
    return { clinicId, channelId, kind: 'cmd', verb: rest[1] };
  return undefined;
}

function isSafeToken(token: string): boolean {
  try {
    assertToken('token', token);
    return true;
  } catch {
    return false;
  }
}

/** A command verb is one subject token of lowercase letters (unknown verbs are still routable, to be refused). */
function assertVerbToken(verb: string): string {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(verb))
    throw new Error(`command verb ${JSON.stringify(verb)} is not a valid subject token`);
  return verb;
}

/**
 * JetStream layout: one stream per clinic, named `WA_<CLINIC>` (the clinic id upper-cased,
 * `-` as `_`), holding the events that must not be lost: status, inbound messages and
 * message updates of all its channels. One stream per clinic lets a clinic credential be
 * allowed exactly its own stream's API subjects (`$JS.API.*.*.WA_<CLINIC>…`), and lets a
 * clinic's data be erased by deleting one stream. QR payloads are not stored: they expire
 * within a minute and are useless later.
 */
export interface StreamSpec {
  name: string;
  subjects: string[];
  /** Deduplication window for `Nats-Msg-Id` (the WhatsApp message id). */
  duplicateWindowMs: number;
  maxAgeMs: number;
}

/** A spec as JetStream's stream configuration (durations in nanoseconds). */
export function jetStreamConfig(spec: StreamSpec): {
  name: string;
  subjects: string[];
  duplicate_window: number;
  max_age: number;
} {
  return {
    name: spec.name,
    subjects: spec.subjects,
    duplicate_window: spec.duplicateWindowMs * 1e6,
    max_age: spec.maxAgeMs * 1e6,
  };
}

/** Every clinic stream's name starts with it (and no other stream's should). */
export const CLINIC_STREAM_PREFIX = 'WA_';

export function clinicStreamName(clinicId: string): string {
  return `${CLINIC_STREAM_PREFIX}${assertToken('clinicId', clinicId).toUpperCase().replace(/-/g, '_')}`;
}

/**
 * The durable pull consumer of a clinic's stream that the clinic's backends read through
 * (`WA_<CLINIC>` / `BACKEND`, explicit acks): created by the platform with the stream, so a
 * backend that was down resumes where it stopped. Several backend instances share it.
 */
export const CLINIC_BACKEND_CONSUMER = 'BACKEND';

/**
 * Default retention of a clinic's stream; the operator's `WA_CLINIC_STREAM_RETENTION_DAYS` and
 * per-clinic overrides change it (docs/operator.md).
 */
export const CLINIC_STREAM_RETENTION_DAYS = 14;

export function clinicStream(clinicId: string, retentionDays = CLINIC_STREAM_RETENTION_DAYS): StreamSpec {
  const c = assertToken('clinicId', clinicId);
  return {
    name: clinicStreamName(c),
    subjects: STORED_EVENT_KINDS.map((kind) => `${SUBJECT_ROOT}.${c}.*.${kind}`),
    duplicateWindowMs: 24 * 60 * 60 * 1000,
    maxAgeMs: retentionDays * 24 * 60 * 60 * 1000,
  };
}
