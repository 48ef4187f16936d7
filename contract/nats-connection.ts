/**
 * The one way operator, worker, CLI and demo open a NATS connection: the servers read from
 * NATS_URL as everyone reads it (natsServers), and one credential handling.
 *
 * A creds file is read again at every (re)connect, not once: the operator rotates a worker's
 * credential by rewriting the mounted Secret before the old JWT expires, and when nats-server
 * then ends the expired user's connection, the reconnect signs in with the new one
 * (docs/security.md). A connection that must succeed now (no `waitOnFirstConnect`) reads the
 * file first too, so an unreadable file is reported as that, not as a refused connection.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  connect,
  credsAuthenticator,
  type Authenticator,
  type ConnectionOptions,
  type NatsConnection,
} from 'nats';
import { natsServers } from './nats-servers.ts';

export interface NatsClientOptions {
  /** NATS_URL: one server, or several separated by commas (or already split). */
  url: string | readonly string[];
  /** The connection's name, as the server's monitoring shows it. */
  name: string;
  /** A creds file (NATS_CREDS_FILE). */
  credsFile?: string | undefined;
  /** Credentials held in memory (the operator's system account, from a Secret). */
  creds?: Uint8Array | undefined;
  /** Plain user and password (nats-server `authorization { users }`), when no creds are used. */
  user?: string | undefined;
  password?: string | undefined;
  /**
   * 'forever' for the operator and the workers: while NATS is away they keep working and the
   * connection must come back by itself. 'never' for one-shot tools, which report at once.
   */
  reconnect: 'forever' | 'never';
  /** Return at once and keep trying when the server is not there yet (services that start without NATS). */
  waitOnFirstConnect?: boolean;
  /** Other nats.js settings: timeouts, pings, the inbox prefix. */
  tuning?: Omit<ConnectionOptions, 'servers' | 'name' | 'authenticator' | 'user' | 'pass'>;
}

/** The creds file could not be read. */
export class NatsCredsFileError extends Error {
  readonly code = 'NatsCredsFileUnreadable';
  readonly file: string;
  constructor(file: string, cause: unknown) {
    super(`cannot read the credentials file ${file}: ${(cause as Error).message}`, { cause });
    this.name = 'NatsCredsFileError';
    this.file = file;
  }
}

export async function openNatsConnection(options: NatsClientOptions): Promise<NatsConnection> {
  const { credsFile, creds, user, password } = options;
  if (credsFile !== undefined && !options.waitOnFirstConnect)
    await readFile(credsFile).catch((err: unknown) => {
      throw new NatsCredsFileError(credsFile, err);
    });
  const authenticator: Authenticator | undefined =
    credsFile !== undefined
      ? (nonce?: string) => credsAuthenticator(readFileSync(credsFile))(nonce)
      : creds !== undefined
        ? credsAuthenticator(creds)
        : undefined;
  return connect({
    ...options.tuning,
    servers: typeof options.url === 'string' ? natsServers(options.url) : [...options.url],
    name: options.name,
    ...(authenticator ? { authenticator } : {}),
    ...(user !== undefined ? { user, pass: password ?? '' } : {}),
    maxReconnectAttempts: options.reconnect === 'forever' ? -1 : 0,
    ...(options.waitOnFirstConnect ? { waitOnFirstConnect: true } : {}),
  });
}
