/**
 * Says what failed, in words a clinic's operator and a log reader can act on: which dependency
 * (S3, KMS), whether it refused connections or did not answer, and the endpoint or object
 * involved. Pure: it only reads the error and its `cause` chain.
 */

/** The fields every fatal or degraded log line carries about its cause. */
export interface FailureCause {
  /** The error's own name and message (the outermost error). */
  name: string;
  message: string;
  /** The network endpoint (host:port) or object the failure was about, when the error says. */
  target: string | undefined;
  /** How it failed: `unreachable` (refused, reset, no route), `not answering` (timed out), or `failing`. */
  kind: 'unreachable' | 'not answering' | 'failing';
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
const NOT_ANSWERING = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ECONNABORTED']);

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  address?: string;
  port?: number;
  hostname?: string;
  cause?: unknown;
}

/** The error and every `cause` below it, outermost first (bounded: causes may loop). */
function chain(err: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  for (let e = err; e && typeof e === 'object' && out.length < 8; e = (e as ErrorLike).cause)
    out.push(e as ErrorLike);
  return out;
}

export function failureCause(err: unknown): FailureCause {
  const errors = chain(err);
  const outer = errors[0];
  const codes = errors.map((e) => e.code ?? '');
  const names = errors.map((e) => e.name ?? '');
  const withAddress = errors.find((e) => e.address);
  const target = withAddress
    ? `${withAddress.address}${withAddress.port ? `:${withAddress.port}` : ''}`
    : errors.find((e) => e.hostname)?.hostname;
  const timedOut =
    codes.some((c) => NOT_ANSWERING.has(c)) ||
    names.some((n) => n === 'TimeoutError' || n === 'RenewalTimeoutError' || n === 'RequestTimeout');
  const kind = codes.some((c) => UNREACHABLE.has(c)) ? 'unreachable' : timedOut ? 'not answering' : 'failing';
  return {
    name: outer?.name ?? typeof err,
    message: outer?.message ?? String(err),
    target,
    kind,
  };
}

/** "S3 unreachable (connect ECONNREFUSED 127.0.0.1:9000)": the dependency, how it failed, and the detail. */
export function describeFailure(dependency: string, err: unknown): string {
  const cause = failureCause(err);
  return `${dependency} ${cause.kind} (${cause.name}: ${cause.message})`;
}
