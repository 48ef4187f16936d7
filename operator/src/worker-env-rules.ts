/**
 * What WA_WORKER_EXTRA_ENV may not set (docs/security.md K5). The extra environment is for
 * tuning (NODE_OPTIONS, the worker's timeouts); it must never replace what the operator decides
 * for a channel (its clinic, its credentials, its storage and key), nor point workers at
 * another WhatsApp endpoint or another trust root, because a worker holds a clinic's identity.
 * The simulator's endpoint and root are operator settings of their own
 * (WA_WORKER_SIMULATOR_URL, WA_WORKER_SIMULATOR_TRUST_ROOT) that every channel's status shows.
 */

/**
 * Every variable the operator sets in a worker pod (pod.ts), except NODE_OPTIONS, whose heap
 * size is a default an install may tune (its code-loading options are refused below).
 * A unit test checks this list against the pods pod.ts builds, so it cannot fall behind.
 */
export const OPERATOR_WORKER_ENV = [
  'WA_CLINIC_ID',
  'WA_CHANNEL_ID',
  'WA_PAIRING',
  'WA_PHONE_NUMBER',
  'WA_LOG_LEVEL',
  'WA_WEB_VERSION',
  'NATS_URL',
  'NATS_CREDS_FILE',
  'WA_S3_BUCKET',
  'WA_S3_PREFIX',
  'WA_S3_REGION',
  'WA_S3_ENDPOINT',
  'WA_KMS_KEY_ID',
  'WA_KMS_REGION',
  'WA_KMS_ENDPOINT',
  'WA_POD_NAME',
  'WA_POD_UID',
  'WA_LEASE_HOLDER',
  'WA_HTTP_PORT',
  'WA_WS_URL',
  'WA_TRUST_ROOT',
  'WA_CLINIC_STREAM_RETENTION_DAYS',
  'WA_IDEMPOTENCY_WINDOW_HOURS',
  'WA_MEDIA_RETENTION_DAYS',
] as const;

/**
 * Variables that would move a worker's endpoints or trust elsewhere, though the operator does
 * not set them: the worker's file-backed state and key (instead of S3 and KMS), the AWS SDK's
 * endpoint and CA overrides, Node's TLS trust and proxies.
 */
const ENDPOINT_AND_TRUST_ENV = [
  'WA_STATE_DIR',
  'WA_KEY_FILE',
  'AWS_CA_BUNDLE',
  'NODE_EXTRA_CA_CERTS',
  'NODE_TLS_REJECT_UNAUTHORIZED',
  'NODE_USE_ENV_PROXY',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
];
const ENDPOINT_AND_TRUST_PATTERNS = [/^AWS_ENDPOINT_URL/, /^NATS_/, /_PROXY$/i];

/** NODE_OPTIONS that would load other code into the worker (or open a debugger on it). */
const CODE_LOADING_NODE_OPTIONS =
  /(^|\s)(-r|--require|--import|--loader|--experimental-loader|--inspect[-\w]*)(=|\s|$)/;

/** One message per refused key of `extraEnv`, naming it; `source` names the setting. */
export function extraEnvProblems(extraEnv: Record<string, string>, source: string): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(extraEnv)) {
    if ((OPERATOR_WORKER_ENV as readonly string[]).includes(key))
      problems.push(
        `${source} may not set ${key}: the operator sets it for each channel` +
          (key === 'WA_WS_URL' || key === 'WA_TRUST_ROOT'
            ? ' (the simulator: WA_WORKER_SIMULATOR_URL and WA_WORKER_SIMULATOR_TRUST_ROOT)'
            : ''),
      );
    else if (ENDPOINT_AND_TRUST_ENV.includes(key) || ENDPOINT_AND_TRUST_PATTERNS.some((p) => p.test(key)))
      problems.push(`${source} may not set ${key}: it would point workers at another endpoint or trust root`);
    else if (key === 'NODE_OPTIONS' && CODE_LOADING_NODE_OPTIONS.test(value))
      problems.push(`${source} may not set NODE_OPTIONS="${value}": it would load other code into workers`);
  }
  return problems;
}
