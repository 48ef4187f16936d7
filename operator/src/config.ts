/**
 * Operator configuration from the environment (the Helm chart sets it). Every problem
 * is listed at once, so a wrong install fails with one clear message.
 */
export interface OperatorConfig {
  /** Namespace to watch; empty = all namespaces. */
  watchNamespace: string;
  natsUrl: string;
  /** Secret (in each channel's namespace) with the worker's NATS credentials, key `creds`; optional. */
  workerNatsSecret: string | undefined;
  worker: {
    image: string;
    serviceAccount: string;
    logLevel: string;
    resources: { requests: Record<string, string>; limits: Record<string, string> };
  };
  s3: { bucket: string; prefix: string; region: string; endpoint: string | undefined };
  kms: { keyId: string; endpoint: string | undefined };
  /** Extra environment for workers (e.g. the simulator's URL in tests). */
  workerExtraEnv: Record<string, string>;
  /** Logout policy: attempts at each step before giving up and releasing the finalizer. */
  deletionAttempts: number;
  logoutTimeoutMs: number;
  resyncSeconds: number;
  concurrency: number;
  httpPort: number;
  leaseHolder: string;
  leaseNamespace: string;
  /** Leader election: a standby takes over this long after the leader stops renewing. */
  leaderLeaseMs: number;
}

export type ConfigResult = { ok: true; config: OperatorConfig } | { ok: false; errors: string[] };

export function parseOperatorConfig(env: NodeJS.ProcessEnv): ConfigResult {
  const errors: string[] = [];
  const text = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
  const required = (name: string, what: string) => {
    const v = text(name);
    if (!v) errors.push(`${name} is required: ${what}`);
    return v ?? '';
  };
  const int = (name: string, fallback: number, min: number, max: number) => {
    const v = text(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      errors.push(`${name}="${v}" must be an integer from ${min} to ${max}`);
    return n;
  };
  let extra: Record<string, string> = {};
  const extraText = text('WA_WORKER_EXTRA_ENV');
  if (extraText) {
    try {
      extra = JSON.parse(extraText) as Record<string, string>;
      if (typeof extra !== 'object' || Array.isArray(extra)) throw new Error('not an object');
    } catch {
      errors.push('WA_WORKER_EXTRA_ENV must be a JSON object of strings');
    }
  }
  const config: OperatorConfig = {
    watchNamespace: text('WA_WATCH_NAMESPACE') ?? '',
    natsUrl: required('NATS_URL', 'where workers publish their status'),
    workerNatsSecret: text('WA_WORKER_NATS_SECRET'),
    worker: {
      image: required('WA_WORKER_IMAGE', 'the worker container image'),
      serviceAccount: text('WA_WORKER_SERVICE_ACCOUNT') ?? 'whatsapp-worker',
      logLevel: text('WA_WORKER_LOG_LEVEL') ?? 'info',
      resources: {
        requests: {
          cpu: text('WA_WORKER_CPU_REQUEST') ?? '50m',
          memory: text('WA_WORKER_MEMORY_REQUEST') ?? '128Mi',
        },
        limits: { memory: text('WA_WORKER_MEMORY_LIMIT') ?? '256Mi' },
      },
    },
    s3: {
      bucket: required('WA_S3_BUCKET', 'the default bucket for auth state'),
      prefix: text('WA_S3_PREFIX') ?? 'wa',
      region: text('WA_S3_REGION') ?? 'us-east-1',
      endpoint: text('WA_S3_ENDPOINT'),
    },
    kms: {
      keyId: required('WA_KMS_KEY_ID', 'the default KMS key for data keys'),
      endpoint: text('WA_KMS_ENDPOINT'),
    },
    workerExtraEnv: extra,
    deletionAttempts: int('WA_DELETION_ATTEMPTS', 5, 1, 100),
    logoutTimeoutMs: int('WA_LOGOUT_TIMEOUT_SECONDS', 10, 1, 300) * 1000,
    resyncSeconds: int('WA_RESYNC_SECONDS', 300, 10, 86_400),
    concurrency: int('WA_RECONCILE_CONCURRENCY', 8, 1, 256),
    httpPort: int('WA_HTTP_PORT', 8080, 1, 65_535),
    leaseHolder: text('POD_NAME') ?? text('HOSTNAME') ?? `operator-${process.pid}`,
    leaseNamespace: text('POD_NAMESPACE') ?? 'default',
    leaderLeaseMs: int('WA_LEADER_LEASE_SECONDS', 15, 2, 300) * 1000,
  };
  return errors.length ? { ok: false, errors } : { ok: true, config };
}
