/**
 * What each NATS identity may do: pure functions from clinic/channel ids to the claims
 * that go into account and user JWTs. docs/security.md explains the model; in short:
 *
 * - the PLATFORM account holds the streams, the workers and the operator. It exports the
 *   clinic-facing subjects (events, commands, read-only JetStream access) privately: only an
 *   account holding an activation token for its own clinic's subjects may import them;
 * - every clinic has its own account (`CLINIC <id>`) that imports exactly its own clinic's
 *   subjects. Its backend users live there. Nothing else of the platform is reachable from
 *   it, and a reply subject a clinic chooses stays inside the clinic's account (service
 *   imports map replies), so a clinic can never make a server or worker publish onto
 *   another clinic's subjects;
 * - a worker user may publish only its own channel's events, serve only its own channel's
 *   commands, and read and write only its own channel's records in the clinic's send log.
 */
import type { Account, Export, User } from '@nats-io/jwt';
import {
  CLINIC_BACKEND_CONSUMER,
  SUBJECT_ROOT,
  assertToken,
  auditSubject,
  channelSubjects,
  clinicStreamName,
  clinicWildcard,
  clinicSendBudgetSubject,
  idempotencyStreamName,
  idempotencySubjectPrefix,
  workerInboxPrefix,
  CLINIC_JS_API_PREFIX,
  EVENT_KINDS,
} from '../../../contract/index.ts';

/** One exported subject of the platform account and, per clinic, the part it may import. */
interface ClinicFacingExport {
  name: string;
  type: 'stream' | 'service';
  /** The exported (wildcard) subject in the platform account. */
  exported: string;
  /** The part of it one clinic may import. */
  forClinic(clinicId: string): string;
  /** For JetStream API imports: the subject inside the clinic's account. */
  localForClinic?(clinicId: string): string;
  responseType?: 'Singleton' | 'Stream';
  /** Pass the requester's account and user along (Nats-Request-Info), for the audit trail. */
  shareRequester?: true;
}

const jsApi = (rest: string) => `$JS.API.${rest}`;
const localJsApi = (rest: string) => `${CLINIC_JS_API_PREFIX}.${rest}`;

/**
 * Events flow platform → clinic (stream exports); commands and JetStream reads flow
 * clinic → platform (service exports). QR payloads are core NATS, so they are exported too.
 * No consumer creation is exported: a push consumer's deliver subject is in the request body
 * and nats-server does not check it against anyone's permissions. Instead the platform makes
 * one durable pull consumer per clinic (`BACKEND`), and a clinic may pull from it (the
 * messages come back as responses, so they stay in the clinic's account) and acknowledge.
 */
export const CLINIC_FACING_EXPORTS: readonly ClinicFacingExport[] = [
  ...EVENT_KINDS.map((kind): ClinicFacingExport => ({
    name: `events ${kind}`,
    type: 'stream',
    exported: `${SUBJECT_ROOT}.*.*.${kind}`,
    forClinic: (c) => `${SUBJECT_ROOT}.${c}.*.${kind}`,
  })),
  {
    name: 'commands',
    type: 'service',
    exported: `${SUBJECT_ROOT}.*.*.cmd.*`,
    forClinic: (c) => `${SUBJECT_ROOT}.${c}.*.cmd.*`,
    responseType: 'Singleton',
    shareRequester: true,
  },
  {
    // STREAM.MSG.GET (not DIRECT.GET): it needs no `allow_direct` on the stream, and takes a
    // sequence or `last_by_subj` in the body.
    name: 'stored events',
    type: 'service',
    exported: jsApi('STREAM.MSG.GET.*'),
    forClinic: (c) => jsApi(`STREAM.MSG.GET.${clinicStreamName(c)}`),
    localForClinic: (c) => localJsApi(`STREAM.MSG.GET.${clinicStreamName(c)}`),
    responseType: 'Singleton',
  },
  {
    name: 'pull stored events',
    type: 'service',
    exported: jsApi('CONSUMER.MSG.NEXT.*.*'),
    forClinic: (c) => jsApi(`CONSUMER.MSG.NEXT.${clinicStreamName(c)}.${CLINIC_BACKEND_CONSUMER}`),
    localForClinic: (c) => localJsApi(`CONSUMER.MSG.NEXT.${clinicStreamName(c)}.${CLINIC_BACKEND_CONSUMER}`),
    // One pull request is answered by many messages.
    responseType: 'Stream',
  },
  {
    name: 'consumer info',
    type: 'service',
    exported: jsApi('CONSUMER.INFO.*.*'),
    forClinic: (c) => jsApi(`CONSUMER.INFO.${clinicStreamName(c)}.${CLINIC_BACKEND_CONSUMER}`),
    localForClinic: (c) => localJsApi(`CONSUMER.INFO.${clinicStreamName(c)}.${CLINIC_BACKEND_CONSUMER}`),
    responseType: 'Singleton',
  },
  {
    // A pulled message's reply subject is its ack subject in the platform account.
    name: 'acknowledgements',
    type: 'service',
    exported: '$JS.ACK.*.*.>',
    forClinic: (c) => `$JS.ACK.${clinicStreamName(c)}.${CLINIC_BACKEND_CONSUMER}.>`,
    responseType: 'Singleton',
  },
  {
    name: 'stream info',
    type: 'service',
    exported: jsApi('STREAM.INFO.*'),
    forClinic: (c) => jsApi(`STREAM.INFO.${clinicStreamName(c)}`),
    localForClinic: (c) => localJsApi(`STREAM.INFO.${clinicStreamName(c)}`),
    responseType: 'Singleton',
  },
];

/**
 * The platform account's exports: every clinic-facing subject, importable only with an
 * activation token, which names the one clinic's part (a wildcard is a whole subject token, so
 * the JetStream exports cover every stream and the token narrows them to `WA_<CLINIC>`).
 */
export function platformAccountExports(): Export[] {
  return CLINIC_FACING_EXPORTS.map((e) => ({
    name: e.name,
    type: e.type,
    subject: e.exported,
    token_req: true,
    ...(e.responseType ? { response_type: e.responseType } : {}),
  }));
}

/** Unlimited connections, data, imports and exports; no JetStream (the system account's limits). */
export const UNLIMITED_CORE_NATS: NonNullable<Account['limits']> = {
  subs: -1,
  data: -1,
  payload: -1,
  conn: -1,
  leaf: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
};

/** Unlimited connections and data, JetStream enabled: the platform account's limits. */
export const PLATFORM_ACCOUNT_LIMITS: NonNullable<Account['limits']> = {
  ...UNLIMITED_CORE_NATS,
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
};

/** A clinic account: no JetStream of its own (its data lives in the platform's stream), no exports. */
export const CLINIC_ACCOUNT_LIMITS: NonNullable<Account['limits']> = {
  subs: -1,
  data: -1,
  payload: -1,
  conn: -1,
  leaf: 0,
  imports: -1,
  exports: 0,
  wildcards: true,
  mem_storage: 0,
  disk_storage: 0,
  streams: 0,
  consumer: 0,
};

/** The imports of one clinic's account, without their activation tokens. */
export function clinicImports(clinicId: string): {
  name: string;
  type: 'stream' | 'service';
  subject: string;
  localSubject?: string;
  share?: true;
}[] {
  const c = assertToken('clinicId', clinicId);
  return CLINIC_FACING_EXPORTS.map((e) => ({
    name: e.name,
    type: e.type,
    subject: e.forClinic(c),
    ...(e.localForClinic ? { localSubject: e.localForClinic(c) } : {}),
    ...(e.shareRequester ? { share: true as const } : {}),
  }));
}

export type UserPermissions = Pick<User, 'pub' | 'sub' | 'resp'>;

/**
 * A clinic backend user (in the clinic's own account): events of its channels, commands to
 * them, read-only access to its stream, and its clinic's durable consumer (pull and ack). Its inbox is the default `_INBOX.>`: it is
 * inside the clinic's account, which no other clinic reaches.
 */
export function clinicBackendPermissions(clinicId: string): UserPermissions {
  // Exactly what the clinic's account imports as services (commands, stream reads, its
  // consumer, acks), under the subjects the account sees them: a new export needs no second edit.
  const services = clinicImports(clinicId).filter((imp) => imp.type === 'service');
  return {
    pub: { allow: services.map((imp) => imp.localSubject ?? imp.subject) },
    sub: { allow: [clinicWildcard(clinicId), '_INBOX.>'] },
  };
}

/**
 * A worker user (in the platform account): publishes its own channel's events and audit
 * records, serves its own channel's commands (replying through `resp`), and may look up its
 * clinic's stream. It may not create or change streams: the operator does that.
 */
export function workerPermissions(clinicId: string, channelId: string): UserPermissions {
  const own = channelSubjects(clinicId, channelId);
  const sendLog = idempotencySubjectPrefix(clinicId, channelId);
  const budget = clinicSendBudgetSubject(clinicId);
  return {
    pub: {
      allow: [
        own.status,
        own.qr,
        own.msgIn,
        own.msgUpdate,
        auditSubject(clinicId, channelId),
        // Its start-up check of the clinic's stream and consumer (contract/clinic-stream.ts): nats.js
        // asks for account info when it opens a JetStream manager, then the two infos. Looking only.
        jsApi('INFO'),
        jsApi(`STREAM.INFO.${clinicStreamName(clinicId)}`),
        jsApi(`CONSUMER.INFO.${clinicStreamName(clinicId)}.${CLINIC_BACKEND_CONSUMER}`),
        // Its own channel's records in the clinic's send log (contract/idempotency-bucket.ts):
        // writes onto its keys, and direct gets that name the key in the subject. Never
        // STREAM.MSG.GET or a bare DIRECT.GET, whose body could name another channel's key.
        // The bucket's info is its start-up look, like the clinic stream's (counts and hashed
        // key names at most: no record).
        `${sendLog}.>`,
        jsApi(`DIRECT.GET.${idempotencyStreamName(clinicId)}.${sendLog}.>`),
        // The clinic's send budget, one key every channel of the clinic shares (send pacing:
        // worker/src/pacing/clinic-budget.ts); a token bucket's state, no message and no contact.
        budget,
        jsApi(`DIRECT.GET.${idempotencyStreamName(clinicId)}.${budget}`),
        jsApi(`STREAM.INFO.${idempotencyStreamName(clinicId)}`),
      ],
    },
    sub: { allow: [own.commands, `${workerInboxPrefix(clinicId, channelId)}.>`] },
    // One reply per command, within a minute (nanoseconds in the JWT).
    resp: { max: 1, ttl: 60_000_000_000 },
  };
}
