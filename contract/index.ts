/**
 * The shared contract of operator, worker, CLI and clinic backends. See docs/contract.md.
 * Every public name is listed here, so a new export is a deliberate change of the contract.
 */
export { TOKEN_PATTERN, TOKEN_MAX_LENGTH, InvalidTokenError, isValidToken, assertToken } from './tokens.ts';
export {
  SUBJECT_ROOT,
  AUDIT_ROOT,
  COMMAND_VERBS,
  EVENT_KINDS,
  STORED_EVENT_KINDS,
  CLINIC_JS_API_PREFIX,
  ALL_STATUS_SUBJECTS,
  CLINIC_BACKEND_CONSUMER,
  CLINIC_STREAM_PREFIX,
  channelSubjects,
  clinicWildcard,
  auditSubject,
  workerInboxPrefix,
  parseSubject,
  jetStreamConfig,
  clinicStreamName,
  clinicStream,
  CLINIC_STREAM_RETENTION_DAYS,
  type CommandVerb,
  type EventKind,
  type ChannelSubjectKind,
  type ChannelSubjects,
  type ParsedSubject,
  type StreamSpec,
} from './subjects.ts';
export {
  GROUP,
  VERSION,
  API_VERSION,
  KIND,
  PLURAL,
  CRD_NAME,
  PHASES,
  LOGGED_OUT_BY_COMMAND,
  CONDITION_TYPES,
  DELETION_POLICIES,
  PAIRING_MODES,
  LABELS,
  FINALIZER,
  type WhatsAppChannel,
  type WhatsAppChannelSchema,
  type WhatsAppChannelSpec,
  type WhatsAppChannelStatus,
  type Condition,
  type Phase,
  type ConditionType,
  type DeletionPolicy,
  type PairingMode,
} from './resource.ts';
export {
  PAYLOAD_VERSION,
  MAX_COMMAND_BYTES,
  MAX_MEDIA_COMMAND_BYTES,
  MEDIA_CARRYING_VERBS,
  PAYLOAD_KINDS,
  COMMAND_ERROR_CODES,
  payloadSchema,
  validatePayload,
  parseCommandBytes,
  type PayloadTypes,
  type PayloadKind,
  type CommandErrorCode,
  type CommandError,
  type Validation,
  type ParsedCommand,
} from './validate.ts';
export { requestActor, AuditTrail, AuditNotStoredError } from './audit.ts';
export { AUDIT_STREAM, AUDIT_RETENTION_DAYS, auditStreamConfig, ensureAuditStream } from './audit-stream.ts';
export { natsServers } from './nats-servers.ts';
export { classifyNatsError, type NatsFailure } from './nats-errors.ts';
export { openNatsConnection, NatsCredsFileError, type NatsClientOptions } from './nats-connection.ts';
export {
  lastChannelStatus,
  lastStatusesOfStream,
  clinicStreamNames,
  parseStatusReport,
} from './status-history.ts';
export {
  BACKEND_ACK_WAIT_NS,
  BACKEND_MAX_ACK_PENDING,
  ensureClinicStream,
  type ClinicStreamResult,
} from './clinic-stream.ts';
export {
  IDEMPOTENCY_WINDOW_HOURS,
  CLINIC_SEND_BUDGET_KEY,
  CLINIC_SEND_BUDGET_LIMITS,
  DEFAULT_CLINIC_SEND_BUDGET,
  clinicSendBudgetSubject,
  ensureIdempotencyBucket,
  idempotencyBucketConfig,
  idempotencyBucketName,
  idempotencyRecordKey,
  idempotencyStreamName,
  idempotencySubjectPrefix,
} from './idempotency-bucket.ts';
export {
  WA_WEB_VERSION_PATTERN,
  parseWaWebVersion,
  formatWaWebVersion,
  type WaWebVersion,
  type WaWebVersionResult,
} from './wa-version.ts';
export type {
  AuditEvent,
  CommandReply,
  InboundMessageEvent,
  LogoutCommand,
  MediaFetchCommand,
  MediaGetCommand,
  MediaUploadCommand,
  MessageUpdateEvent,
  PairCommand,
  PairingEvent,
  SendCommand,
  StatusEvent,
} from './generated/payloads.ts';
