/**
 * How the CLI reaches NATS, and how it turns NATS failures into messages a person can
 * act on (unreachable server, missing permission, no worker answering).
 */
import type { NatsConnection } from 'nats';
import { classifyNatsError, NatsCredsFileError, openNatsConnection } from '../contract/index.ts';

export interface ConnectionOptions {
  server: string;
  creds?: string;
  /** Plain user/password (nats-server `authorization { users }`), when no creds file is used. */
  user?: string;
  password?: string;
}

export class CliError extends Error {
  readonly code = 'CliFailure';
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export async function connectNats(options: ConnectionOptions): Promise<NatsConnection> {
  try {
    return await openNatsConnection({
      url: options.server,
      name: 'wa-cli',
      credsFile: options.creds,
      user: options.user,
      password: options.password,
      reconnect: 'never',
      tuning: { timeout: 5_000 },
    });
  } catch (err) {
    if (err instanceof NatsCredsFileError) throw new CliError(err.message);
    if (classifyNatsError(err) === 'credentials-refused') {
      throw new CliError(
        `NATS at ${options.server} refused the credentials${options.creds ? ` in ${options.creds}` : options.user ? ` of user ${options.user}` : ''}`,
      );
    }
    throw new CliError(
      `cannot reach NATS at ${options.server} (${(err as Error).message}); set --server or NATS_URL`,
    );
  }
}

/** Maps request/permission errors of nats.js to CliErrors. */
export function explainNatsError(err: unknown, what: string): CliError {
  const failure = classifyNatsError(err);
  if (failure === 'no-responders') {
    return new CliError(
      `no worker answers for ${what}: the channel does not exist or its worker is not running`,
    );
  }
  if (failure === 'timeout') return new CliError(`the worker of ${what} did not answer in time`);
  if (failure === 'permission-denied') {
    return new CliError(`no permission for ${what}: your NATS credentials do not cover it`);
  }
  return new CliError(`${what}: ${(err as Error | undefined)?.message ?? String(err)}`);
}
