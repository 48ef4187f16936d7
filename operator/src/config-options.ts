/**
 * Every operator setting: its environment variable, its flag, and what it means (also the
 * --help text). A pure table; config.ts reads and checks the values.
 */
import { MEDIA_RETENTION_DAYS } from '../../contract/state-layout.ts';
import {
  AUDIT_RETENTION_DAYS,
  CLINIC_STREAM_RETENTION_DAYS,
  IDEMPOTENCY_WINDOW_HOURS,
} from '../../contract/index.ts';

export interface Option {
  env: string;
  flag: string;
  help: string;
}

/** Every setting: its variable, its flag, and what it means (also the --help text). */
export const OPTIONS = {
  natsUrl: { env: 'NATS_URL', flag: 'nats-url', help: 'NATS server (required)' },
  natsCreds: { env: 'NATS_CREDS_FILE', flag: 'nats-creds', help: "the operator's NATS .creds file" },
  natsIssuerDir: {
    env: 'WA_NATS_ISSUER_DIR',
    flag: 'nats-issuer-dir',
    help: 'folder of NATS issuer keys: the operator issues clinic and worker credentials',
  },
  natsCredsTtl: {
    env: 'WA_NATS_CREDS_TTL_SECONDS',
    flag: 'nats-creds-ttl',
    help: 'lifetime of an issued NATS credential (86400)',
  },
  watchNamespace: { env: 'WA_WATCH_NAMESPACE', flag: 'watch-namespace', help: 'only this namespace' },
  clinicNamespaceCheck: {
    env: 'WA_CLINIC_NAMESPACE_CHECK',
    flag: 'clinic-namespace-check',
    help: 'a channel runs only in a namespace labelled with its clinic (true)',
  },
  logLevel: { env: 'WA_LOG_LEVEL', flag: 'log-level', help: 'operator log level (info)' },
  image: { env: 'WA_WORKER_IMAGE', flag: 'worker-image', help: 'worker image (required)' },
  allowedRepositories: {
    env: 'WA_WORKER_ALLOWED_REPOSITORIES',
    flag: 'worker-allowed-repositories',
    help: "comma-separated repositories spec.worker.image may use (the worker image's)",
  },
  simulatorUrl: {
    env: 'WA_WORKER_SIMULATOR_URL',
    flag: 'worker-simulator-url',
    help: 'tests only: WhatsApp protocol simulator ws:// URL for every worker',
  },
  simulatorTrustRoot: {
    env: 'WA_WORKER_SIMULATOR_TRUST_ROOT',
    flag: 'worker-simulator-trust-root',
    help: "tests only: the simulator's root key (64 hex), or its file as the worker sees it",
  },
  serviceAccount: {
    env: 'WA_WORKER_SERVICE_ACCOUNT',
    flag: 'worker-service-account',
    help: "workers' ServiceAccount (namespace default)",
  },
  workerLogLevel: { env: 'WA_WORKER_LOG_LEVEL', flag: 'worker-log-level', help: 'worker log level (info)' },
  cpuRequest: { env: 'WA_WORKER_CPU_REQUEST', flag: 'worker-cpu-request', help: 'worker CPU request (50m)' },
  memoryRequest: {
    env: 'WA_WORKER_MEMORY_REQUEST',
    flag: 'worker-memory-request',
    help: 'worker memory request (192Mi)',
  },
  memoryLimit: {
    env: 'WA_WORKER_MEMORY_LIMIT',
    flag: 'worker-memory-limit',
    help: 'worker memory limit (384Mi)',
  },
  natsSecret: {
    env: 'WA_WORKER_NATS_SECRET',
    flag: 'worker-nats-secret',
    help: "Secret with the worker's NATS creds; {clinicId} and {channelId} are replaced",
  },
  natsSecretKey: {
    env: 'WA_WORKER_NATS_SECRET_KEY',
    flag: 'worker-nats-secret-key',
    help: 'key of the creds in that Secret (creds)',
  },
  envSecret: {
    env: 'WA_WORKER_ENV_SECRET',
    flag: 'worker-env-secret',
    help: 'Secret whose keys become worker env; {clinicId} is replaced',
  },
  extraEnv: { env: 'WA_WORKER_EXTRA_ENV', flag: 'worker-extra-env', help: 'JSON object of extra worker env' },
  waWebVersion: {
    env: 'WA_WORKER_WA_WEB_VERSION',
    flag: 'worker-wa-web-version',
    help: "WhatsApp Web version workers announce, e.g. 2.3000.1023223821 (Baileys' built-in)",
  },
  bucket: { env: 'WA_S3_BUCKET', flag: 's3-bucket', help: 'default state bucket (required)' },
  prefix: { env: 'WA_S3_PREFIX', flag: 's3-prefix', help: 'default state prefix (wa)' },
  region: { env: 'WA_S3_REGION', flag: 's3-region', help: 'S3 region (us-east-1)' },
  s3Endpoint: { env: 'WA_S3_ENDPOINT', flag: 's3-endpoint', help: 'S3-compatible endpoint URL' },
  kmsKey: { env: 'WA_KMS_KEY_ID', flag: 'kms-key-id', help: 'default KMS key (required)' },
  clinicKmsKeys: {
    env: 'WA_CLINIC_KMS_KEYS',
    flag: 'clinic-kms-keys',
    help: 'JSON object of clinicId to KMS key, for clinics with their own key',
  },
  kmsRegion: { env: 'WA_KMS_REGION', flag: 'kms-region', help: 'KMS region (the S3 region)' },
  kmsEndpoint: { env: 'WA_KMS_ENDPOINT', flag: 'kms-endpoint', help: 'KMS-compatible endpoint URL' },
  auditRetention: {
    env: 'WA_AUDIT_RETENTION_DAYS',
    flag: 'audit-retention-days',
    help: `days the audit stream keeps audit events (${AUDIT_RETENTION_DAYS})`,
  },
  streamRetention: {
    env: 'WA_CLINIC_STREAM_RETENTION_DAYS',
    flag: 'clinic-stream-retention-days',
    help: `days a clinic's stream keeps its events (${CLINIC_STREAM_RETENTION_DAYS})`,
  },
  clinicStreamRetention: {
    env: 'WA_CLINIC_STREAM_RETENTION',
    flag: 'clinic-stream-retention',
    help: 'JSON object of clinicId to days, for clinics whose stream keeps events longer or shorter',
  },
  mediaRetention: {
    env: 'WA_MEDIA_RETENTION_DAYS',
    flag: 'media-retention-days',
    help: `days workers keep stored attachments (${MEDIA_RETENTION_DAYS})`,
  },
  clinicMediaRetention: {
    env: 'WA_MEDIA_RETENTION',
    flag: 'media-retention',
    help: 'JSON object of clinicId to days, for clinics whose attachments are kept longer or shorter',
  },
  clinicSendBudget: {
    env: 'WA_CLINIC_SEND_BUDGET',
    flag: 'clinic-send-budget',
    help:
      'JSON object of clinicId (or "*" for every clinic) to {ratePerMinute, burst}: the send budget ' +
      'the channels of a clinic share (default {"ratePerMinute":120,"burst":30})',
  },
  idempotencyWindow: {
    env: 'WA_IDEMPOTENCY_WINDOW_HOURS',
    flag: 'idempotency-window-hours',
    help: `hours a send's idempotency key answers retries (${IDEMPOTENCY_WINDOW_HOURS})`,
  },
  deletionTimeout: {
    env: 'WA_DELETION_TIMEOUT_SECONDS',
    flag: 'deletion-timeout',
    help: 'seconds failing Logout steps are retried (300)',
  },
  logoutTimeout: {
    env: 'WA_LOGOUT_TIMEOUT_SECONDS',
    flag: 'logout-timeout',
    help: 'seconds to wait for one logout reply (10)',
  },
  rolloutMaxUnavailable: {
    env: 'WA_ROLLOUT_MAX_UNAVAILABLE',
    flag: 'rollout-max-unavailable',
    help: 'channels replaced at once in a worker rollout, a number or a % of all channels (10%)',
  },
  rolloutMaxUnavailablePerClinic: {
    env: 'WA_ROLLOUT_MAX_UNAVAILABLE_PER_CLINIC',
    flag: 'rollout-max-unavailable-per-clinic',
    help: 'the same within one clinic, of its channels, at least 1 (50%)',
  },
  rolloutClinicMaxUnavailable: {
    env: 'WA_ROLLOUT_CLINIC_MAX_UNAVAILABLE',
    flag: 'rollout-clinic-max-unavailable',
    help: 'JSON object of clinicId to its own share, e.g. {"clinic-a":"1"}',
  },
  rolloutCanary: {
    env: 'WA_ROLLOUT_CANARY',
    flag: 'rollout-canary',
    help: 'channels in the first batch, which must come back before any other is replaced (1; 0 = none)',
  },
  rolloutMaxFailed: {
    env: 'WA_ROLLOUT_MAX_FAILED',
    flag: 'rollout-max-failed',
    help: 'failed channels a rollout tolerates before it halts, a number or a % of all channels (0)',
  },
  rolloutHealthTimeout: {
    env: 'WA_ROLLOUT_HEALTH_TIMEOUT_SECONDS',
    flag: 'rollout-health-timeout',
    help: 'seconds a replaced channel has to come back (300)',
  },
  resync: { env: 'WA_RESYNC_SECONDS', flag: 'resync', help: 'seconds between full resyncs (300)' },
  concurrency: {
    env: 'WA_RECONCILE_CONCURRENCY',
    flag: 'concurrency',
    help: 'channels reconciled at once (8)',
  },
  httpPort: { env: 'WA_HTTP_PORT', flag: 'http-port', help: 'metrics and health port (8080)' },
  leaderElection: {
    env: 'WA_LEADER_ELECTION',
    flag: 'leader-election',
    help: 'true|false: elect a leader among replicas (true)',
  },
  leaseName: { env: 'WA_LEADER_LEASE_NAME', flag: 'leader-lease-name', help: 'Lease name' },
  leaseSeconds: {
    env: 'WA_LEADER_LEASE_SECONDS',
    flag: 'leader-lease-seconds',
    help: 'leader lease duration (15)',
  },
  podName: { env: 'POD_NAME', flag: 'identity', help: 'this replica (the pod name)' },
  podNamespace: { env: 'POD_NAMESPACE', flag: 'lease-namespace', help: 'namespace of the Lease' },
  shutdownTimeout: {
    env: 'WA_SHUTDOWN_TIMEOUT_SECONDS',
    flag: 'shutdown-timeout',
    help: 'seconds to finish in-flight work on SIGTERM (20)',
  },
} satisfies Record<string, Option>;
export type OptionKey = keyof typeof OPTIONS;
