/**
 * The NATS connection and the JetStream streams the channel's events go to.
 */
import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  type Authenticator,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import type { Logger } from 'pino';
import { jetStreamConfig, type StreamSpec } from '../../../contract/index.ts';

export interface NatsHandle {
  nc: NatsConnection;
  /** False between a disconnect and the next reconnect. */
  connected(): boolean;
}

export async function connectNats(
  opts: { servers: string[]; credsFile: string | undefined; name: string; inboxPrefix?: string },
  logger: Logger,
): Promise<NatsHandle> {
  const authenticator = opts.credsFile ? rereadingCredsAuthenticator(opts.credsFile) : undefined;
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    ...(authenticator ? { authenticator } : {}),
    // Replies to this worker (JetStream acks) go to a prefix only its NATS user may read.
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
    // Never give up: while NATS is away the outbox holds events and the session stops
    // acknowledging; the connection must come back by itself.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
    maxPingOut: 3,
  });
  let up = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') up = false;
      if (s.type === 'reconnect') up = true;
      if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
        logger.warn({ nats: s.type, data: String(s.data) }, `NATS ${s.type}`);
      }
    }
  })();
  return { nc, connected: () => up && !nc.isClosed() };
}

/**
 * Reads the creds file at every (re)connect, not once: the operator rotates the credential by
 * rewriting the mounted Secret before the old JWT expires; when nats-server then ends the
 * connection of the expired user, the reconnect signs in with the new one (docs/security.md).
 */
function rereadingCredsAuthenticator(file: string): Authenticator {
  return (nonce?: string) => credsAuthenticator(readFileSync(file))(nonce);
}

/**
 * Creates the streams if they do not exist. Another worker of the same clinic may create them
 * at the same moment; "already in use" is success. A worker whose credentials may not manage
 * streams (the operator created them) logs and carries on.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  specs: StreamSpec[],
  logger: Logger,
): Promise<void> {
  for (const spec of specs) {
    try {
      await jsm.streams.info(spec.name);
      continue;
    } catch (err) {
      if (!isNotFound(err)) {
        logger.warn({ err, stream: spec.name }, 'cannot look up stream; assuming it is managed elsewhere');
        continue;
      }
    }
    try {
      await jsm.streams.add(jetStreamConfig(spec));
      logger.info({ stream: spec.name, subjects: spec.subjects }, 'created stream');
    } catch (err) {
      if (String(err).includes('already in use')) continue;
      logger.warn({ err, stream: spec.name }, 'could not create stream');
    }
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; code?: string; message?: string };
  return e?.api_error?.err_code === 10059 || e?.code === '404' || /stream not found/i.test(e?.message ?? '');
}
