/**
 * The worker's configuration, read from the environment the operator gives the pod
 * (docs/worker-env.md). `parseWorkerConfig` is pure: it never touches the process, so every
 * rule below is unit-tested, and it reports every problem at once instead of the first one.
 */
import { MEDIA_RETENTION_DAYS } from '../../contract/state-layout.ts';
import {
  CLINIC_STREAM_RETENTION_DAYS,
  IDEMPOTENCY_WINDOW_HOURS,
  isValidToken,
  natsServers,
  parseWaWebVersion,
  type WaWebVersion,
} from '../../contract/index.ts';
import { environment, SettingsReader } from '../../contract/settings-reader.ts';
import { channelStatePrefix as statePrefixOf } from '../../contract/state-layout.ts';
import { DEFAULT_CLINIC_BUDGET, type ClinicBudgetSettings } from './pacing/clinic-budget.ts';
import {
  DEFAULT_SEND_POLICY,
  parseClinicBudget,
  parseSendPolicy,
  type SendPolicy,
} from './pacing/send-policy.ts';

export const PAIRING_MODES = ['qr', 'code'] as const;
export type PairingMode = (typeof PAIRING_MODES)[number];

/** What happens to the auth state when WhatsApp says the credentials are no longer valid. */
export const INVALID_STATE_ACTIONS = ['quarantine', 'erase', 'keep'] as const;
export type InvalidStateAction = (typeof INVALID_STATE_ACTIONS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface WorkerConfig {
  clinicId: string;
  channelId: string;
  /** Identity written into the lease; defaults to the pod name (HOSTNAME). */
  leaseHolder: string;
  pairing: PairingMode;
  /** E.164 without "+" as Baileys wants it for requestPairingCode; only for pairing by code. */
  phoneNumber: string | undefined;
  logLevel: LogLevel;
  s3: {
    bucket: string;
    prefix: string;
    region: string;
    endpoint: string | undefined;
    forcePathStyle: boolean;
  };
  kms: { keyId: string; region: string; endpoint: string | undefined };
  /**
   * AWS_CREDENTIAL_EXPIRATION, read by the AWS SDK with static session credentials from the
   * environment; the worker only reports it (wa_worker_credential_expiry_timestamp_seconds).
   */
  awsCredentialExpiration: string | undefined;
  /**
   * Local mode (docs/local-mode.md): the state in this folder instead of S3 (WA_STATE_DIR), and
   * data keys wrapped by this key file instead of KMS (WA_KEY_FILE). Absolute paths, or undefined.
   */
  stateDir: string | undefined;
  keyFile: string | undefined;
  /** NATS_URL: one server or a comma-separated list. */
  nats: { servers: string[]; credsFile: string | undefined };
  /** Simulator only: WebSocket URL of the WhatsApp Web endpoint and the trust root file. */
  waWebSocketUrl: string | undefined;
  trustRootFile: string | undefined;
  /**
   * WA_WEB_VERSION: the WhatsApp Web client version announced at login (Baileys' `version`),
   * set by the operator for the fleet or the channel. Undefined: Baileys' built-in version.
   */
  waWebVersion: WaWebVersion | undefined;
  httpPort: number;
  /** Where the HTTP server listens: every interface in a pod (the probes), loopback in local mode. */
  httpHost: string;
  /** How many QR codes to show before giving up and waiting for a new `pair` command. */
  maxQrCodes: number;
  /** Applied on 401 (logged out) and 411 (multi-device mismatch): the credentials are dead. */
  onLoggedOut: InvalidStateAction;
  /** Applied on 402/403/406 (restricted or banned): the credentials may still work later. */
  onBanned: InvalidStateAction;
  /** A session connected this long with no frame from the server, or failing self-checks, is recycled. */
  deafAfterMs: number;
  selfCheckIntervalMs: number;
  /** A sent message that the server has not acknowledged after this long marks the session deaf. */
  sendAckTimeoutMs: number;
  /** Inbound events that may wait while NATS is unavailable. */
  outboxCapacity: number;
  maxCommandBytes: number;
  /** The channel's attachment limit: larger inbound media is not downloaded (msg.in says so). */
  mediaMaxBytes: number;
  /** Stored attachments older than this are deleted by the worker's sweep (docs/worker.md, "Media"). */
  mediaRetentionMs: number;
  /** A media download (or re-download) taking longer than this fails; `media-fetch` tries again. */
  mediaDownloadTimeoutMs: number;
  idempotencyCapacity: number;
  /** WA_IDEMPOTENCY_WINDOW_HOURS: how long a send's record answers retries, when this worker creates the bucket. */
  idempotencyWindowHours: number;
  /** WA_CLINIC_STREAM_RETENTION_DAYS: the clinic stream's max age, when this worker creates the stream. */
  clinicStreamRetentionDays: number;
  shutdownGraceMs: number;
  /** The timeouts that decide how long an outage is ridden out with the session open (docs/worker.md). */
  timeouts: OutageTimeouts;
  /** WA_SEND_POLICY: the channel's spec.sendPolicy (pacing/send-policy.ts), defaults filled in. */
  sendPolicy: SendPolicy;
  /** WA_CLINIC_SEND_BUDGET: the clinic's budget shared by its channels (pacing/clinic-budget.ts). */
  clinicSendBudget: ClinicBudgetSettings;
}

/** docs/worker.md "Outages" says how long an S3 outage each of these survives. */
export interface OutageTimeouts {
  /** WA_LEASE_TTL_SECONDS: how long the lease lasts without renewal. A stale worker stops writing within this. */
  leaseTtlMs: number;
  /** WA_LEASE_RENEW_SECONDS: how often the lease is renewed; a renewal still unanswered then is abandoned. */
  leaseRenewMs: number;
  /** WA_LEASE_MARGIN_SECONDS: the lease is given up this long before it expires by the local clock. */
  leaseMarginMs: number;
  /** WA_STORE_REQUEST_TIMEOUT_SECONDS: an S3 or KMS request with no answer for this long fails (per attempt). */
  storeRequestMs: number;
  /** WA_STORE_CONNECT_TIMEOUT_SECONDS: an S3 or KMS connection not established within this fails. */
  storeConnectMs: number;
}

export type ConfigResult = { ok: true; config: WorkerConfig } | { ok: false; errors: string[] };

type Env = Readonly<Record<string, string | undefined>>;

const E164 = /^\+?[1-9][0-9]{6,14}$/;

export function parseWorkerConfig(env: Env): ConfigResult {
  const { errors, problem, text, required, oneOf, integer, seconds, url, bool, absolutePath } =
    new SettingsReader(environment(env));
  const token = (name: string, what: string): string => {
    const value = required(name, what);
    // Clinic and channel ids become NATS subject tokens and S3 path segments (contract/tokens.ts).
    if (value && !isValidToken(value)) {
      problem(
        `${name}="${value}" must be 1-63 lowercase letters, digits or '-', not starting or ending with '-'`,
      );
    }
    return value;
  };

  const clinicId = token('WA_CLINIC_ID', 'the clinic this worker serves');
  const channelId = token('WA_CHANNEL_ID', 'the channel within the clinic');
  const pairing = oneOf('WA_PAIRING', PAIRING_MODES, 'qr');
  let phoneNumber = text('WA_PHONE_NUMBER');
  if (phoneNumber !== undefined) {
    if (!E164.test(phoneNumber)) {
      problem(`WA_PHONE_NUMBER="${phoneNumber}" must be an E.164 number such as +5511999990000`);
    }
    phoneNumber = phoneNumber.replace(/^\+/, '');
  } else if (pairing === 'code') {
    problem('WA_PHONE_NUMBER is required when WA_PAIRING=code (the number to pair by code)');
  }

  const s3Region = text('WA_S3_REGION') ?? text('AWS_REGION') ?? 'us-east-1';
  const prefix = (text('WA_S3_PREFIX') ?? 'wa').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    problem(`WA_S3_PREFIX="${text('WA_S3_PREFIX')}" must be a plain path such as "wa" or "tenants/wa"`);
  }
  const waWebSocketUrl = url('WA_WS_URL', ['ws:', 'wss:']);
  const trustRootFile = text('WA_TRUST_ROOT');
  if (waWebSocketUrl !== undefined && trustRootFile === undefined) {
    // A different endpoint with WhatsApp's own root only makes sense for a proxy; refuse the
    // ambiguous case rather than connect somewhere unexpected with real credentials.
    problem('WA_WS_URL is set without WA_TRUST_ROOT: both are for the protocol simulator only');
  }
  if (trustRootFile !== undefined && waWebSocketUrl === undefined) {
    problem(
      'WA_TRUST_ROOT is set without WA_WS_URL: the real WhatsApp endpoint is only trusted with its own root',
    );
  }
  const stateDir = absolutePath('WA_STATE_DIR');
  const keyFile = absolutePath('WA_KEY_FILE');
  const waWebVersionText = text('WA_WEB_VERSION');
  const waWebVersion = waWebVersionText === undefined ? undefined : parseWaWebVersion(waWebVersionText);
  if (waWebVersion && !waWebVersion.ok) problem(`WA_WEB_VERSION=${waWebVersion.error}`);
  const sendPolicy = parseSendPolicy(text('WA_SEND_POLICY'));
  if (!sendPolicy.ok) problem(sendPolicy.error);
  const clinicBudget = parseClinicBudget(text('WA_CLINIC_SEND_BUDGET'), DEFAULT_CLINIC_BUDGET);
  if (!clinicBudget.ok) problem(clinicBudget.error);
  const holder = text('WA_LEASE_HOLDER') ?? text('POD_NAME') ?? text('HOSTNAME');
  if (holder === undefined) problem('WA_LEASE_HOLDER (or POD_NAME/HOSTNAME) is required: the lease identity');

  const config: WorkerConfig = {
    clinicId,
    channelId,
    leaseHolder: holder ?? '',
    pairing,
    phoneNumber,
    logLevel: oneOf('WA_LOG_LEVEL', LOG_LEVELS, 'info'),
    s3: {
      // With WA_STATE_DIR the state lives on the local disk and no bucket is used.
      bucket:
        stateDir === undefined
          ? required('WA_S3_BUCKET', 'the bucket holding auth state, or WA_STATE_DIR in local mode')
          : (text('WA_S3_BUCKET') ?? ''),
      prefix,
      region: s3Region,
      endpoint: url('WA_S3_ENDPOINT', ['http:', 'https:']),
      forcePathStyle: bool('WA_S3_FORCE_PATH_STYLE', text('WA_S3_ENDPOINT') !== undefined),
    },
    kms: {
      keyId:
        keyFile === undefined
          ? required('WA_KMS_KEY_ID', 'the KMS key that wraps the data keys, or WA_KEY_FILE in local mode')
          : (text('WA_KMS_KEY_ID') ?? ''),
      region: text('WA_KMS_REGION') ?? s3Region,
      endpoint: url('WA_KMS_ENDPOINT', ['http:', 'https:']),
    },
    awsCredentialExpiration: text('AWS_CREDENTIAL_EXPIRATION'),
    nats: {
      // Each server checked; the operator passes its own NATS_URL, a comma-separated list too.
      servers: natsServers(required('NATS_URL', 'the NATS server') ?? '').map(
        (server) => url('NATS_URL', ['nats:', 'tls:', 'ws:', 'wss:'], server) ?? server,
      ),
      credsFile: text('NATS_CREDS_FILE'),
    },
    stateDir,
    keyFile,
    waWebSocketUrl,
    trustRootFile,
    waWebVersion: waWebVersion?.ok ? waWebVersion.version : undefined,
    httpPort: integer('WA_HTTP_PORT', 8080, 1, 65535),
    httpHost: text('WA_HTTP_HOST') ?? '0.0.0.0',
    maxQrCodes: integer('WA_QR_MAX', 6, 1, 50),
    onLoggedOut: oneOf('WA_ON_LOGGED_OUT', INVALID_STATE_ACTIONS, 'quarantine'),
    onBanned: oneOf('WA_ON_BANNED', INVALID_STATE_ACTIONS, 'keep'),
    deafAfterMs: seconds('WA_DEAF_AFTER_SECONDS', 180, 10, 86_400),
    selfCheckIntervalMs: seconds('WA_SELF_CHECK_SECONDS', 60, 5, 3_600),
    sendAckTimeoutMs: seconds('WA_SEND_ACK_TIMEOUT_SECONDS', 60, 5, 3_600),
    outboxCapacity: integer('WA_OUTBOX_CAPACITY', 1000, 10, 1_000_000),
    maxCommandBytes: integer('WA_MAX_COMMAND_BYTES', 64 * 1024, 1024, 1024 * 1024),
    mediaMaxBytes: integer('WA_MEDIA_MAX_BYTES', 100 * 1024 * 1024, 1024, 2 * 1024 * 1024 * 1024),
    mediaRetentionMs:
      integer('WA_MEDIA_RETENTION_DAYS', MEDIA_RETENTION_DAYS, 1, 3_650) * 24 * 60 * 60 * 1000,
    mediaDownloadTimeoutMs: seconds('WA_MEDIA_DOWNLOAD_TIMEOUT_SECONDS', 300, 5, 3_600),
    idempotencyCapacity: integer('WA_IDEMPOTENCY_CAPACITY', 10_000, 10, 1_000_000),
    idempotencyWindowHours: integer('WA_IDEMPOTENCY_WINDOW_HOURS', IDEMPOTENCY_WINDOW_HOURS, 1, 8_760),
    clinicStreamRetentionDays: integer(
      'WA_CLINIC_STREAM_RETENTION_DAYS',
      CLINIC_STREAM_RETENTION_DAYS,
      1,
      3_650,
    ),
    shutdownGraceMs: seconds('WA_SHUTDOWN_GRACE_SECONDS', 25, 1, 600),
    timeouts: outageTimeouts(seconds, errors),
    sendPolicy: sendPolicy.ok ? sendPolicy.policy : DEFAULT_SEND_POLICY,
    clinicSendBudget: clinicBudget.ok ? clinicBudget.budget : DEFAULT_CLINIC_BUDGET,
  };
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config };
}

/**
 * The lease and store timeouts. They must leave room for two renewal attempts before the lease
 * is given up, or a single slow answer would cost the session.
 */
function outageTimeouts(
  seconds: (name: string, fallbackSeconds: number, min: number, max: number) => number,
  errors: string[],
): OutageTimeouts {
  const leaseTtlMs = seconds('WA_LEASE_TTL_SECONDS', 15, 3, 600);
  const leaseRenewMs = seconds('WA_LEASE_RENEW_SECONDS', Math.max(1, Math.floor(leaseTtlMs / 3_000)), 1, 300);
  const leaseMarginMs = seconds(
    'WA_LEASE_MARGIN_SECONDS',
    Math.max(1, Math.floor(leaseTtlMs / 5_000)),
    1,
    300,
  );
  if (2 * leaseRenewMs > leaseTtlMs - leaseMarginMs) {
    errors.push(
      `WA_LEASE_RENEW_SECONDS=${leaseRenewMs / 1000} must leave two renewals before the lease is given up ` +
        `(at most (WA_LEASE_TTL_SECONDS - WA_LEASE_MARGIN_SECONDS) / 2 = ${(leaseTtlMs - leaseMarginMs) / 2000})`,
    );
  }
  return {
    leaseTtlMs,
    leaseRenewMs,
    leaseMarginMs,
    storeRequestMs: seconds('WA_STORE_REQUEST_TIMEOUT_SECONDS', 5, 1, 120),
    storeConnectMs: seconds('WA_STORE_CONNECT_TIMEOUT_SECONDS', 3, 1, 60),
  };
}

/** The object prefix of this channel's auth state: `<prefix>/<clinic>/<channel>/`. */
export function channelStatePrefix(config: Pick<WorkerConfig, 's3' | 'clinicId' | 'channelId'>): string {
  return statePrefixOf({ prefix: config.s3.prefix, clinicId: config.clinicId, channelId: config.channelId });
}
