/**
 * The audit trail (docs/security.md, "Audit"): every command a worker receives, and every
 * erasure and credential the operator makes, is one structured event, logged at info with
 * `audit: true` and published on `wa-audit.<clinic>.<channel>`, a subject outside `wa.>` that
 * only the platform account can read, where the audit stream (audit-stream.ts) stores it. Events
 * carry who asked and what came of it, never message text, keys or credentials (a credential is
 * named by its user public key and expiry).
 *
 * In the contract, not in the worker: the operator records on the same trail, and each image
 * carries only `contract/` and its own program's folder.
 */
import { randomUUID } from 'node:crypto';
import type { Msg, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { AuditEvent } from './generated/payloads.ts';
import { classifyNatsError } from './nats-errors.ts';
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

type AuditInput = Omit<AuditEvent, 'v' | 'source' | 'at' | 'actor'> & { actor?: string };

/** The audit stream did not acknowledge an event that had to be stored (recordStored). */
export class AuditNotStoredError extends Error {
  readonly code = 'AuditNotStored';
  readonly event: AuditEvent;
  constructor(event: AuditEvent) {
    super(`the audit stream did not store the ${event.action} event of ${event.clinicId}/${event.channelId}`);
    this.name = 'AuditNotStoredError';
    this.event = event;
  }
}

/** Attempts to have JetStream store one event before giving up on it (the log line stays). */
const STORE_ATTEMPTS = 5;

/**
 * One audit trail per process, the worker's or the operator's (`source`). The connection is
 * looked up at each record: the operator's may not exist yet, and a closed one must not fail
 * the action being audited; the log line is the record then.
 *
 * Each event is published through JetStream and acknowledged by the audit stream, retried with
 * back-off under one `Nats-Msg-Id` (stored once however often it is sent). Recording never waits
 * for it: the audited action goes on, and `flush()` waits for what is still being stored.
 */
export class AuditTrail {
  private readonly source: AuditEvent['source'];
  private readonly nc: () => NatsConnection | undefined;
  private readonly logger: Logger;
  private readonly storing = new Set<Promise<void>>();

  constructor(source: AuditEvent['source'], nc: () => NatsConnection | undefined, logger: Logger) {
    this.source = source;
    this.nc = nc;
    this.logger = logger;
  }

  /** `actor` defaults to the source itself (the operator acting on its own). */
  record(event: AuditInput): AuditEvent {
    return this.start(event).event;
  }

  /**
   * Records and waits until the audit stream has stored the event; throws AuditNotStoredError
   * otherwise. For a person's one-off action (`wa contact erase`), where the trail is the proof
   * the action was taken and the person is there to hear that it is missing.
   */
  async recordStored(event: AuditInput): Promise<AuditEvent> {
    const { event: full, stored } = this.start(event);
    if (!(await stored)) throw new AuditNotStoredError(full);
    return full;
  }

  private start(event: AuditInput): { event: AuditEvent; stored: Promise<boolean> } {
    const full: AuditEvent = {
      v: 1,
      source: this.source,
      actor: this.source,
      ...event,
      at: new Date().toISOString(),
    };
    this.logger.info({ audit: true, ...full }, `audit: ${full.action}`);
    const stored = this.store(full);
    const storing = stored.then(() => undefined).finally(() => this.storing.delete(storing));
    this.storing.add(storing);
    return { event: full, stored };
  }

  /** Waits until every event recorded so far is stored, or given up on (shutdown, tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.storing]);
  }

  /** True once the audit stream acknowledged the event. */
  private async store(event: AuditEvent): Promise<boolean> {
    const subject = auditSubject(event.clinicId, event.channelId);
    const data = new TextEncoder().encode(JSON.stringify(event));
    const msgID = randomUUID();
    for (let attempt = 1; ; attempt++) {
      const nc = this.nc();
      if (!nc || nc.isClosed()) return false; // no connection: the log line is the record
      try {
        await nc.jetstream().publish(subject, data, { msgID, timeout: 5_000 });
        return true;
      } catch (err) {
        // No responders: no stream stores audit events here (a platform that does not keep
        // one); live subscribers got the event with the publish itself. Nothing to retry.
        const noStream = classifyNatsError(err) === 'no-responders';
        if (noStream || attempt >= STORE_ATTEMPTS) {
          this.logger.warn(
            { err, action: event.action, clinicId: event.clinicId, channelId: event.channelId },
            noStream
              ? 'no audit stream stores audit events on this NATS; the log line is the record'
              : 'the audit stream did not store an audit event; the log line is the record',
          );
          return false;
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  }
}
