/**
 * The audit trail (docs/security.md, "Audit"): every command a worker receives, and every
 * erasure and credential the operator makes, is one structured event, logged at info with
 * `audit: true` and published on `wa-audit.<clinic>.<channel>`, a subject outside `wa.>` that
 * only the platform account can read. Events carry who asked and what came of it, never message
 * text, keys or credentials (a credential is named by its user public key and expiry).
 *
 * In the contract, not in the worker: the operator records on the same trail, and each image
 * carries only `contract/` and its own program's folder.
 */
import type { Msg, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { AuditEvent } from './generated/payloads.ts';
import { auditSubject } from './subjects.ts';

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

/**
 * One audit trail per process, the worker's or the operator's (`source`). The connection is
 * looked up at each record: the operator's may not exist yet, and a closed one must not fail
 * the action being audited; the log line is the record then.
 */
export class AuditTrail {
  readonly #source: AuditEvent['source'];
  readonly #nc: () => NatsConnection | undefined;
  readonly #logger: Logger;

  constructor(source: AuditEvent['source'], nc: () => NatsConnection | undefined, logger: Logger) {
    this.#source = source;
    this.#nc = nc;
    this.#logger = logger;
  }

  /** `actor` defaults to the source itself (the operator acting on its own). */
  record(event: Omit<AuditEvent, 'v' | 'source' | 'at' | 'actor'> & { actor?: string }): AuditEvent {
    const full: AuditEvent = {
      v: 1,
      source: this.#source,
      actor: this.#source,
      ...event,
      at: new Date().toISOString(),
    };
    this.#logger.info({ audit: true, ...full }, `audit: ${full.action}`);
    const nc = this.#nc();
    if (!nc || nc.isClosed()) return full;
    try {
      // Core NATS: the platform keeps the trail with a stream on `wa-audit.>` if it wants one.
      nc.publish(auditSubject(full.clinicId, full.channelId), JSON.stringify(full));
    } catch (err) {
      this.#logger.warn({ err }, 'could not publish an audit event; the log line is the record');
    }
    return full;
  }
}
