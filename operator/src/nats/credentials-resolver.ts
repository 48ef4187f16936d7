/**
 * Publishes a clinic account's JWT to nats-server's account resolver (`full` resolver:
 * `$SYS.REQ.CLAIMS.UPDATE`, answered by every server of the cluster). The connection must be
 * a system-account user's. A JWT is public (it holds no secret), so it may be logged.
 */
import type { NatsConnection } from 'nats';

export class AccountPushError extends Error {
  readonly code = 'AccountPushRefused';
  override name = 'AccountPushError';
}

export async function pushAccountJwt(
  systemNc: NatsConnection,
  jwt: string,
  timeoutMs = 5_000,
): Promise<void> {
  const reply = await systemNc.request('$SYS.REQ.CLAIMS.UPDATE', new TextEncoder().encode(jwt), {
    timeout: timeoutMs,
  });
  const body = JSON.parse(new TextDecoder().decode(reply.data)) as {
    data?: { code?: number; message?: string };
    error?: { code?: number; description?: string };
  };
  if (body.error) {
    throw new AccountPushError(
      `the account resolver refused the account: ${body.error.description ?? 'unknown'}`,
    );
  }
  if (body.data?.code !== undefined && body.data.code !== 200) {
    throw new AccountPushError(`the account resolver answered ${body.data.code}: ${body.data.message ?? ''}`);
  }
}
