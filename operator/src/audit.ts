/**
 * The operator's audit trail (docs/security.md, "Audit"): state erasures and credentials
 * issued, each one structured event logged at info with `audit: true` and published on
 * `wa-audit.<clinic>.<channel>` (platform account only). Never carries secret material:
 * a credential is named by its user public key and expiry.
 */
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { auditSubject, type AuditEvent } from '../../contract/index.ts';

export class OperatorAudit {
  readonly #logger: Logger;
  readonly #nc: () => NatsConnection | undefined;

  constructor(logger: Logger, nc: () => NatsConnection | undefined) {
    this.#logger = logger;
    this.#nc = nc;
  }

  record(event: Omit<AuditEvent, 'v' | 'source' | 'at' | 'actor'> & { actor?: string }): AuditEvent {
    const full: AuditEvent = {
      v: 1,
      source: 'operator',
      actor: 'operator',
      ...event,
      at: new Date().toISOString(),
    };
    this.#logger.info({ audit: true, ...full }, `audit: ${full.action}`);
    const nc = this.#nc();
    if (nc && !nc.isClosed()) {
      try {
        nc.publish(auditSubject(full.clinicId, full.channelId), JSON.stringify(full));
      } catch (err) {
        this.#logger.warn({ err }, 'could not publish an audit event; the log line is the record');
      }
    }
    return full;
  }
}
