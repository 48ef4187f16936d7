/**
 * The audit trail of a worker (docs/security.md, "Audit"): every command it receives is one
 * structured event, logged at info with `audit: true` and published on
 * `wa-audit.<clinic>.<channel>`, a subject outside `wa.>` that only the platform account can
 * read. Events carry who asked and what came of it, never message text or keys.
 */
import type { Msg, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { auditSubject, type AuditEvent } from '../../contract/index.ts';

/**
 * Who sent a request: the `Nats-Request-Info` header that nats-server adds to requests
 * arriving through a clinic account's import (`share: true`) names the account and user.
 * Requests from inside the platform account (the operator) carry none: `nats`.
 */
export function requestActor(msg: Pick<Msg, 'headers'>): string {
  const raw = msg.headers?.get('Nats-Request-Info');
  if (!raw) return 'nats';
  try {
    const info = JSON.parse(raw) as { acc?: string; user?: string; name?: string };
    const who = [info.acc, info.user ?? info.name].filter(Boolean).join('/');
    return who ? who.slice(0, 256) : 'nats';
  } catch {
    return 'nats';
  }
}

export class AuditTrail {
  readonly #nc: NatsConnection;
  readonly #logger: Logger;

  constructor(nc: NatsConnection, logger: Logger) {
    this.#nc = nc;
    this.#logger = logger;
  }

  record(event: Omit<AuditEvent, 'v' | 'source' | 'at'>): AuditEvent {
    const full: AuditEvent = { v: 1, source: 'worker', ...event, at: new Date().toISOString() };
    this.#logger.info({ audit: true, ...full }, `audit: ${full.action}`);
    try {
      // Core NATS: the platform keeps the trail with a stream on `wa-audit.>` if it wants one.
      this.#nc.publish(auditSubject(full.clinicId, full.channelId), JSON.stringify(full));
    } catch (err) {
      // A closed connection must not fail the command; the log line above is the record.
      this.#logger.warn({ err }, 'could not publish an audit event');
    }
    return full;
  }
}
