/**
 * When the credentials the worker presents expire, for `wa_worker_credential_expiry_timestamp_seconds`
 * (docs/metrics.md says what is observable and what is not):
 * - `nats`: the user JWT in NATS_CREDS_FILE, read at every scrape: the kubelet replaces the file
 *   when the operator renews the credential, and the worker presents the file's JWT at its next
 *   (re)connect, so the file's expiry is the one that matters;
 * - `aws-env`: static temporary AWS credentials from the environment (AWS_SESSION_TOKEN with
 *   AWS_CREDENTIAL_EXPIRATION), which nothing renews. Credentials the AWS SDK fetches itself
 *   (IRSA web identity, instance or container roles) are refreshed before they expire: a failure
 *   there shows as S3 or KMS errors instead.
 */
import { readFile } from 'node:fs/promises';

const USER_JWT = /-----BEGIN NATS USER JWT-----\s*([A-Za-z0-9_.-]+)\s*-+END NATS USER JWT-+/;

/** The `exp` claim (unix seconds) of the user JWT in a NATS .creds file's text; undefined when it has none. */
export function natsCredsExpiry(credsText: string): number | undefined {
  const jwt = USER_JWT.exec(credsText)?.[1];
  const payload = jwt?.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && claims.exp > 0 ? claims.exp : undefined;
  } catch {
    return undefined;
  }
}

export interface CredentialSources {
  natsCredsFile?: string | undefined;
  /** AWS_CREDENTIAL_EXPIRATION, when static session credentials come from the environment. */
  awsEnvExpiration?: string | undefined;
}

/** Expiry (unix seconds) of each credential whose expiry is known now; an unreadable file reports none. */
export async function credentialExpiries(sources: CredentialSources): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (sources.natsCredsFile) {
    const text = await readFile(sources.natsCredsFile, 'utf8').catch(() => '');
    const exp = natsCredsExpiry(text);
    if (exp !== undefined) out.set('nats', exp);
  }
  if (sources.awsEnvExpiration) {
    const ms = Date.parse(sources.awsEnvExpiration);
    if (Number.isFinite(ms)) out.set('aws-env', ms / 1000);
  }
  return out;
}
