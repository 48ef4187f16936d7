/**
 * The order of a SIGTERM, each step waiting for the one before:
 *
 * 1. stop taking commands (late ones are answered `ShuttingDown`; running ones finish);
 * 2. close the socket with `end()` — never `logout()` — and wait for pending creds saves;
 * 3. drain the outbox into JetStream, for half the grace period at most;
 * 4. release the lease, so the next pod need not wait for it to expire.
 *
 * Commands stop first so nothing new is sent while the session closes; the outbox drains after
 * the socket closed because the close itself may still produce events (status, updates); the
 * lease goes last because everything before writes under it.
 */
import type { Logger } from 'pino';

export interface ShutdownParts {
  /** Timers and watchers that would react to the steps below. */
  stopWatching: () => void;
  commands: { stop(): Promise<void> };
  session: { shutdown(): Promise<void> };
  events: { close(timeoutMs: number): Promise<boolean>; readonly waiting: number };
  lease: { release(): Promise<void> };
  graceMs: number;
  logger: Logger;
}

/** `shutdown()` runs steps 1-4; calling it again returns the same run. */
export interface OrderedShutdown {
  (): Promise<void>;
  /**
   * Steps 1-2 only, after the lease was lost to an outage: the event sink stays for the next
   * session, and the lease is already gone.
   */
  endSession(): Promise<void>;
}

export function orderedShutdown(parts: ShutdownParts): OrderedShutdown {
  let ending: Promise<void> | undefined;
  let running: Promise<void> | undefined;
  const endSession = () => (ending ??= stopSession(parts));
  return Object.assign(() => (running ??= run(parts, endSession)), { endSession });
}

async function stopSession(parts: ShutdownParts): Promise<void> {
  parts.stopWatching();
  await parts.commands.stop();
  await parts.session.shutdown();
}

async function run(parts: ShutdownParts, endSession: () => Promise<void>): Promise<void> {
  const { logger } = parts;
  logger.info({ graceMs: parts.graceMs }, 'shutting down');
  await endSession();
  const drained = await parts.events.close(Math.max(1_000, parts.graceMs / 2));
  if (!drained) logger.warn({ waiting: parts.events.waiting }, 'events left unpublished at shutdown');
  await parts.lease.release().catch((err: unknown) => logger.error({ err }, 'lease release failed'));
}
