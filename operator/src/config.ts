/**
 * Operator configuration from command-line flags and the environment (the Helm chart
 * sets the environment). A flag wins over its variable. Every problem is listed at
 * once, so a wrong install fails with one clear message instead of one per restart.
 */
import { parseArgs } from 'node:util';
import {
  AUDIT_RETENTION_DAYS,
  CLINIC_STREAM_RETENTION_DAYS,
  IDEMPOTENCY_WINDOW_HOURS,
  natsServers,
  parseWaWebVersion,
} from '../../contract/index.ts';
import { SettingsReader } from '../../contract/settings-reader.ts';
import { extraEnvProblems } from './worker-env-rules.ts';
import { imageRepository, REPOSITORY } from './worker-image.ts';

export interface OperatorConfig {
  /** Namespace to watch; empty = all namespaces. */
  watchNamespace: string;
  /**
   * A channel runs only in a namespace labelled with its clinic (`whatsapp.clinic.dev/clinic`):
   * the operator's side of the admission policy (controller/identity-step.ts). Off for
   * single-team clusters that do not label namespaces by clinic.
   */
  clinicNamespaceCheck: boolean;
  natsUrl: string;
  /** The operator's own NATS credentials file, if the server needs one. */
  natsCredsFile: string | undefined;
  /**
   * When set, the operator issues the NATS credentials itself (docs/security.md): a folder with
   * the issuer keys, and the lifetime of each credential (renewed when a third is left).
   */
  natsIssuer: { dir: string; ttlSeconds: number } | undefined;
  logLevel: string;
  worker: {
    image: string;
    /** Repositories `spec.worker.image` may come from (worker-image.ts); default: the image's own. */
    allowedRepositories: string[];
    /**
     * The WhatsApp Web protocol simulator (tests and demos only): its WebSocket URL and the path
     * of its root key file in the worker. Every channel's status shows it (TestEndpoint).
     */
    simulator: { url: string; trustRoot: string } | undefined;
    /** Unset = the namespace's `default` ServiceAccount (its token is never mounted). */
    serviceAccount: string | undefined;
    logLevel: string;
    resources: { requests: Record<string, string>; limits: Record<string, string> };
    /** Secret with the worker's NATS credentials; `{clinicId}` and `{channelId}` in the name are replaced. */
    natsSecret: { name: string; key: string } | undefined;
    /** Secret whose keys become worker environment variables (e.g. S3 keys for MinIO). */
    envSecret: string | undefined;
    /** Extra plain environment for workers (tuning only: worker-env-rules.ts refuses the rest). */
    extraEnv: Record<string, string>;
    /**
     * The WhatsApp Web client version every worker announces ("2.3000.1023223821"), unless a
     * channel sets its own; undefined keeps the version built into the worker's Baileys.
     */
    waWebVersion: string | undefined;
  };
  s3: { bucket: string; prefix: string; region: string; endpoint: string | undefined };
  kms: {
    /** The platform key: wraps the data keys of every clinic without a key of its own. */
    keyId: string;
    /** Clinics with their own KMS key (clinicId → key id, ARN or alias); a channel's spec still wins. */
    clinicKeys: Record<string, string>;
    region: string | undefined;
    endpoint: string | undefined;
  };
  deletion: {
    /** How long, from the deletion request, failing Logout steps are retried before they are given up. */
    timeoutMs: number;
    /** One logout request waits this long for the worker's reply. */
    logoutTimeoutMs: number;
  };
  /** How long the audit stream keeps events (contract/audit-stream.ts). */
  auditRetentionDays: number;
  /** The clinic streams' retention (contract/clinic-stream.ts) and the send log's window. */
  clinicStreams: {
    retentionDays: number;
    /** Clinics whose stream keeps events for another number of days. */
    clinicRetentionDays: Record<string, number>;
    idempotencyWindowHours: number;
  };
  resyncMs: number;
  concurrency: number;
  httpPort: number;
  leader: {
    enabled: boolean;
    identity: string;
    namespace: string;
    name: string;
    /** A standby takes over this long after the leader stops renewing. */
    leaseMs: number;
  };
  /** Graceful shutdown: how long in-flight reconciles may take before the process exits anyway. */
  shutdownTimeoutMs: number;
}

export type ConfigResult = { ok: true; config: OperatorConfig } | { ok: false; errors: string[] };

interface Option {
  env: string;
  flag: string;
  help: string;
}

/** Every setting: its variable, its flag, and what it means (also the --help text). */
const OPTIONS = {
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
    help: "tests only: the simulator's root key file, as the worker sees it",
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
type Key = keyof typeof OPTIONS;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** A Secret name, in which `{clinicId}` stands for the channel's clinic. */
const SECRET_NAME = /^([a-z0-9.-]|\{clinicId\}|\{channelId\})+$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** As the worker accepts WA_CLINIC_STREAM_RETENTION_DAYS. */
const MAX_RETENTION_DAYS = 3_650;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX = /^[A-Za-z0-9!_.*()-]+(\/[A-Za-z0-9!_.*()-]+)*$/;
const QUANTITY = /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?[0-9]+))?$/;

export function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

export function helpText(): string {
  const rows = Object.values(OPTIONS).map((o) => `  --${o.flag.padEnd(24)} ${o.env.padEnd(28)} ${o.help}`);
  return `Usage: node operator/src/main.ts [flags]\n\nEvery flag can also be set by its environment variable:\n${rows.join('\n')}\n`;
}

export function parseOperatorConfig(env: NodeJS.ProcessEnv, argv: string[] = []): ConfigResult {
  let flags: Record<string, string | boolean | undefined> = {};
  let argvProblem: string | undefined;
  try {
    const options = Object.fromEntries(
      Object.values(OPTIONS).map((o) => [o.flag, { type: 'string' as const }]),
    );
    flags = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean' } },
      strict: true,
    }).values;
  } catch (err) {
    argvProblem = `${(err as Error).message} (see --help)`;
  }

  /** Where a value came from, for messages: "--nats-url" or "NATS_URL". */
  const source = (key: Key) =>
    flags[OPTIONS[key].flag] !== undefined ? `--${OPTIONS[key].flag}` : OPTIONS[key].env;
  const settings = new SettingsReader<Key>({
    value: (key) => {
      const raw = flags[OPTIONS[key].flag] ?? env[OPTIONS[key].env];
      return typeof raw === 'string' ? raw : undefined;
    },
    source,
    missing: (key) => `${OPTIONS[key].env} (or --${OPTIONS[key].flag})`,
  });
  const { problem, text, required, matching, integer, oneOf, url, stringMap } = settings;

  const natsUrl = required('natsUrl', 'where workers publish their status');
  for (const server of natsServers(natsUrl)) {
    if (!/^(nats|tls|ws|wss):\/\/[^/\s]+/.test(server.trim()) && !/^[^:/\s]+:\d+$/.test(server.trim()))
      problem(`${source('natsUrl')}="${server}" must look like nats://host:4222`);
  }
  const natsSecretName = matching(
    'natsSecret',
    SECRET_NAME,
    'a Secret name, optionally with {clinicId} and {channelId}',
  );
  const natsIssuerDir = text('natsIssuerDir');
  if (natsIssuerDir && !natsSecretName?.includes('{channelId}'))
    problem(
      `${source('natsIssuerDir')} needs ${source('natsSecret')} with {channelId} (one credential per channel, e.g. wa-nats-{clinicId}-{channelId})`,
    );
  const image = required('image', 'the worker container image');
  const config: OperatorConfig = {
    watchNamespace: matching('watchNamespace', DNS_LABEL, 'a namespace name', '') ?? '',
    clinicNamespaceCheck: oneOf('clinicNamespaceCheck', ['true', 'false'], 'true') === 'true',
    natsUrl,
    natsCredsFile: text('natsCreds'),
    natsIssuer: natsIssuerDir
      ? { dir: natsIssuerDir, ttlSeconds: integer('natsCredsTtl', 86_400, 300, 90 * 86_400) }
      : undefined,
    logLevel: oneOf('logLevel', LOG_LEVELS, 'info'),
    worker: {
      image,
      allowedRepositories: allowedRepositories(
        text('allowedRepositories'),
        image,
        source('allowedRepositories'),
        problem,
      ),
      simulator: simulator(
        url('simulatorUrl', ['ws:', 'wss:']),
        settings.absolutePath('simulatorTrustRoot'),
        [source('simulatorUrl'), source('simulatorTrustRoot')],
        problem,
      ),
      serviceAccount: matching('serviceAccount', /^[a-z0-9.-]+$/, 'a ServiceAccount name'),
      logLevel: oneOf('workerLogLevel', LOG_LEVELS, 'info'),
      resources: {
        requests: {
          cpu: matching('cpuRequest', QUANTITY, 'a quantity such as 50m', '50m')!,
          memory: matching('memoryRequest', QUANTITY, 'a quantity such as 192Mi', '192Mi')!,
        },
        limits: { memory: matching('memoryLimit', QUANTITY, 'a quantity such as 384Mi', '384Mi')! },
      },
      natsSecret: natsSecretName
        ? { name: natsSecretName, key: matching('natsSecretKey', /^[-._a-zA-Z0-9]+$/, 'a key', 'creds')! }
        : undefined,
      envSecret: matching('envSecret', SECRET_NAME, 'a Secret name, optionally with {clinicId}'),
      extraEnv: stringMap(
        'extraEnv',
        (k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k),
        'a JSON object of variable names to strings, such as {"NODE_OPTIONS":"--max-old-space-size=300"}',
      ),
      waWebVersion: waWebVersion(text('waWebVersion'), source('waWebVersion'), problem),
    },
    s3: {
      bucket: matching(
        'bucket',
        BUCKET,
        'an S3 bucket name',
        required('bucket', 'the default state bucket'),
      )!,
      prefix: matching('prefix', PREFIX, 'a plain path such as "wa" or "tenants/wa"', 'wa')!,
      region: text('region') ?? 'us-east-1',
      endpoint: url('s3Endpoint', ['http:', 'https:']),
    },
    kms: {
      keyId: required('kmsKey', 'the default KMS key that wraps data keys'),
      clinicKeys: stringMap(
        'clinicKmsKeys',
        (k, v) => DNS_LABEL.test(k) && /^\S+$/.test(v),
        'a JSON object of clinic ids to KMS keys, such as {"clinic-a":"alias/wa-clinic-a"}',
      ),
      region: text('kmsRegion'),
      endpoint: url('kmsEndpoint', ['http:', 'https:']),
    },
    deletion: {
      timeoutMs: integer('deletionTimeout', 300, 0, 86_400) * 1000,
      logoutTimeoutMs: integer('logoutTimeout', 10, 1, 300) * 1000,
    },
    auditRetentionDays: integer('auditRetention', AUDIT_RETENTION_DAYS, 1, 36_500),
    clinicStreams: {
      retentionDays: integer('streamRetention', CLINIC_STREAM_RETENTION_DAYS, 1, MAX_RETENTION_DAYS),
      clinicRetentionDays: clinicDays(
        text('clinicStreamRetention'),
        source('clinicStreamRetention'),
        problem,
      ),
      idempotencyWindowHours: integer('idempotencyWindow', IDEMPOTENCY_WINDOW_HOURS, 1, 8_760),
    },
    resyncMs: integer('resync', 300, 10, 86_400) * 1000,
    concurrency: integer('concurrency', 8, 1, 256),
    httpPort: integer('httpPort', 8080, 0, 65_535),
    leader: {
      enabled: oneOf('leaderElection', ['true', 'false'], 'true') === 'true',
      identity: text('podName') ?? env.HOSTNAME ?? `operator-${process.pid}`,
      namespace: matching('podNamespace', DNS_LABEL, 'a namespace name', 'default')!,
      name: matching('leaseName', DNS_LABEL, 'a Lease name', 'whatsapp-operator-leader')!,
      leaseMs: integer('leaseSeconds', 15, 2, 300) * 1000,
    },
    shutdownTimeoutMs: integer('shutdownTimeout', 20, 1, 600) * 1000,
  };
  for (const refused of extraEnvProblems(config.worker.extraEnv, source('extraEnv'))) problem(refused);
  const errors = argvProblem ? [argvProblem, ...settings.errors] : settings.errors;
  return errors.length ? { ok: false, errors } : { ok: true, config };
}

/** Three positive integers ("2.3000.1023223821"), checked as the worker checks WA_WEB_VERSION. */
function waWebVersion(
  raw: string | undefined,
  source: string,
  problem: (message: string) => void,
): string | undefined {
  if (raw === undefined) return undefined;
  const parsed = parseWaWebVersion(raw);
  if (!parsed.ok) problem(`${source}=${parsed.error}`);
  return raw;
}

/** The allow-list of worker repositories; unset: the repository of the operator's worker image. */
function allowedRepositories(
  raw: string | undefined,
  image: string,
  source: string,
  problem: (message: string) => void,
): string[] {
  if (raw === undefined) return image ? [imageRepository(image)] : [];
  const repositories = raw
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const r of repositories)
    if (!REPOSITORY.test(r))
      problem(`${source}: "${r}" is not a repository (host/path, without tag, digest or wildcard)`);
  if (repositories.length === 0) problem(`${source} must name at least one repository`);
  return repositories;
}

/** The simulator's endpoint and trust root: both or neither, as the worker requires. */
function simulator(
  url: string | undefined,
  trustRoot: string | undefined,
  [urlSource, rootSource]: [string, string],
  problem: (message: string) => void,
): OperatorConfig['worker']['simulator'] {
  if (url === undefined && trustRoot === undefined) return undefined;
  if (url === undefined || trustRoot === undefined) {
    problem(`${urlSource} and ${rootSource} go together (the protocol simulator, tests only)`);
    return undefined;
  }
  return { url, trustRoot };
}

/** `{"clinic-a": 30}`: clinic ids to whole days (numbers or digit strings, as YAML gives either). */
function clinicDays(
  raw: string | undefined,
  source: string,
  problem: (message: string) => void,
): Record<string, number> {
  if (raw === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const entries =
    typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? Object.entries(parsed)
      : undefined;
  const days = entries?.map(
    ([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v] as const,
  );
  if (
    !days ||
    !days.every(
      ([k, v]) =>
        DNS_LABEL.test(k) && Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_RETENTION_DAYS,
    )
  ) {
    problem(
      `${source} must be a JSON object of clinic ids to days (1-${MAX_RETENTION_DAYS}), such as {"clinic-a":30}`,
    );
    return {};
  }
  return Object.fromEntries(days) as Record<string, number>;
}
