/**
 * What a failed NATS call means, read from the `code` nats.js puts on its errors (and, for a
 * JetStream API error, the status code of its `api_error`). One classifier, so that the
 * operator, the worker, the CLI and the contract's JetStream reads tell failures apart the same way,
 * never by the wording of a message.
 */
export type NatsFailure =
  /** Nobody subscribes to the request subject (no worker, or JetStream not enabled): '503'. */
  | 'no-responders'
  /** No answer in time: 'TIMEOUT'. */
  | 'timeout'
  /** The server refused a publish or subscription to this user: 'PERMISSIONS_VIOLATION'. */
  | 'permission-denied'
  /** The server refused the credentials, or they expired. */
  | 'credentials-refused'
  /** JetStream: no such stream, or no such message (API status 404, or a direct get's '404'). */
  | 'not-found'
  | 'other';

const CREDENTIALS_REFUSED = new Set(['AUTHORIZATION_VIOLATION', 'AUTHENTICATION_EXPIRED', 'ACCOUNT_EXPIRED']);

export function classifyNatsError(err: unknown): NatsFailure {
  const e = (err ?? {}) as { code?: unknown; api_error?: { code?: unknown } };
  if (e.api_error?.code === 404 || e.code === '404') return 'not-found';
  if (e.code === '503') return 'no-responders';
  if (e.code === 'TIMEOUT') return 'timeout';
  if (e.code === 'PERMISSIONS_VIOLATION') return 'permission-denied';
  if (typeof e.code === 'string' && CREDENTIALS_REFUSED.has(e.code)) return 'credentials-refused';
  return 'other';
}
