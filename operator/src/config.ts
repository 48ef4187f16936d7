/**
 * Operator configuration from command-line flags and the environment (the Helm chart
 * sets the environment). A flag wins over its variable. Every problem is listed at
 * once, so a wrong install fails with one clear message instead of one per restart.
 */
import { MEDIA_RETENTION_DAYS } from '../../contract/state-layout.ts';
import { parseArgs } from 'node:util';
import {
  AUDIT_RETENTION_DAYS,
  CLINIC_STREAM_RETENTION_DAYS,
  IDEMPOTENCY_WINDOW_HOURS,
  natsServers,
} from '../../contract/index.ts';
import { SettingsReader } from '../../contract/settings-reader.ts';
import { OPTIONS, type OptionKey as Key } from './config-options.ts';
import {
  allowedRepositories,
  BUCKET,
  clinicDays,
  clinicSendBudgets,
  type SendBudget,
  DNS_LABEL,
  LOG_LEVELS,
  MAX_RETENTION_DAYS,
  PREFIX,
  QUANTITY,
  SECRET_NAME,
  simulator,
  waWebVersion,
} from './config-values.ts';
import { extraEnvProblems } from './worker-env-rules.ts';
import { parseShare, SHARE, type RolloutPolicy, type Share } from './controller/rollout-plan.ts';

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
     * of its root key (64 hex, or a file path in the worker). Every channel's status shows it (TestEndpoint).
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
  /** How long workers keep stored attachments: the default and each clinic's own (media-settings.ts). */
  media: {
    retentionDays: number;
    clinicRetentionDays: Record<string, number>;
  };
  /** How replacements caused by these settings roll across the channels (controller/rollout-plan.ts). */
  rollout: RolloutPolicy;
  /**
   * The send budget the channels of a clinic share (WA_CLINIC_SEND_BUDGET): by clinic id, `*` for
   * every clinic; a clinic in neither gets the worker's default (clinic-send-budget.ts).
   */
  clinicSendBudgets: Record<string, SendBudget>;
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
  /** "5" or "10%" (at most 100%). */
  const share = (key: Key, fallback: string): Share => {
    const raw = matching(key, SHARE, 'a number of channels or a percentage, such as 5 or 10%', fallback)!;
    const parsed = SHARE.test(raw) ? parseShare(raw) : parseShare(fallback);
    if (parsed) return parsed;
    problem(`${source(key)}="${raw}" must be at most 100%`);
    return parseShare(fallback)!;
  };
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
        // The key itself (a worker pod has no volume for a file), or a file path in the worker.
        matching(
          'simulatorTrustRoot',
          /^(\/\S*|[0-9a-fA-F]{64})$/,
          'the root key in 64 hex characters, or an absolute path in the worker',
        ),
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
    media: {
      retentionDays: integer('mediaRetention', MEDIA_RETENTION_DAYS, 1, MAX_RETENTION_DAYS),
      clinicRetentionDays: clinicDays(text('clinicMediaRetention'), source('clinicMediaRetention'), problem),
    },
    rollout: {
      maxUnavailable: share('rolloutMaxUnavailable', '10%'),
      maxUnavailablePerClinic: share('rolloutMaxUnavailablePerClinic', '50%'),
      clinicMaxUnavailable: Object.fromEntries(
        Object.entries(
          stringMap(
            'rolloutClinicMaxUnavailable',
            (k, v) => DNS_LABEL.test(k) && parseShare(v) !== undefined,
            'a JSON object of clinic ids to a number or a percentage, such as {"clinic-a":"1","clinic-b":"25%"}',
          ),
        ).map(([clinic, v]) => [clinic, parseShare(v)!]),
      ),
      canary: integer('rolloutCanary', 1, 0, 1_000),
      maxFailed: share('rolloutMaxFailed', '0'),
      healthTimeoutMs: integer('rolloutHealthTimeout', 300, 10, 86_400) * 1000,
    },
    clinicSendBudgets: clinicSendBudgets(text('clinicSendBudget'), source('clinicSendBudget'), problem),
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
