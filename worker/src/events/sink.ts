/**
 * Where the session's events go: JetStream for what must not be lost (inbound messages,
 * message updates, status), plain NATS for pairing material (QR codes expire in seconds; a
 * stored one is useless and should not linger).
 *
 * Every JetStream publish carries a stable Nats-Msg-Id (the WhatsApp message id for messages),
 * so retries and redeliveries are stored once.
 */
import type { WAMessage } from '@whiskeysockets/baileys';
import type { JetStreamClient, MsgHdrs, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type CircuitBreaker from 'opossum';
import type { Metrics } from '../ops/metrics.ts';
import { context, endSpan, headersFor, inSpan, SpanKind, startSpan } from '../ops/tracing.ts';
import type { PairingPayload, StatusReport } from '../session/ports.ts';
import { Outbox, OutboxFullError, type OutboxEventKind, type OutboxEvent } from './outbox.ts';
import {
  inboundMessageEvent,
  isPublishable,
  pairingEvent,
  statusEvent,
  updateDedupId,
  type MessageUpdateEvent,
} from './payloads.ts';
import type { ChannelSubjects, InboundMessageEvent } from '../../../contract/index.ts';

export interface SinkDeps {
  nc: NatsConnection;
  subjects: ChannelSubjects;
  /** `waWebVersion`: the WhatsApp Web version this worker announces, carried in every status event. */
  ids: { clinicId: string; channelId: string; worker: string; waWebVersion?: string };
  capacity: number;
  /** Publishing starts once this settles (Outbox `startAfter`). */
  startAfter?: Promise<unknown>;
  metrics: Metrics;
  logger: Logger;
  makeBreaker: (publish: (e: OutboxEvent) => Promise<void>) => CircuitBreaker<[OutboxEvent], void>;
  /** Publish attempts that fail for this long mark the sink unavailable. */
  stallAfterMs: number;
  onPressure: (high: boolean) => void;
  /** Whether the NATS connection is up (a quiet outbox says nothing about that). */
  connected?: () => boolean;
}

const encoder = new TextEncoder();

/** JetStream publishes in flight at once (outbox.ts `window`). */
const PUBLISH_WINDOW = 64;

/** The `msg.in` span of an inbound message (its id is WhatsApp's; no contact is named). */
function inboundSpanOptions(subject: string, messageId: string) {
  return {
    kind: SpanKind.PRODUCER,
    attributes: {
      'messaging.system': 'nats',
      'messaging.destination.name': subject,
      'messaging.message.id': messageId,
    },
  };
}

export class EventSink {
  readonly outbox: Outbox;
  private readonly deps: SinkDeps;
  private readonly js: JetStreamClient;
  private readonly breaker: CircuitBreaker<[OutboxEvent], void>;
  /** Distinguishes this process's status events from an earlier run's in the dedup window. */
  private readonly boot = Date.now().toString(36);
  private statusSeq = 0;

  constructor(deps: SinkDeps) {
    this.deps = deps;
    this.js = deps.nc.jetstream();
    this.breaker = deps.makeBreaker(async (e) => {
      await this.js.publish(e.subject, e.data, {
        msgID: e.msgId,
        timeout: 5_000,
        ...(e.headers ? { headers: e.headers } : {}),
      });
    });
    deps.metrics.outboxCapacity.set(deps.capacity);
    const highWater = Math.max(1, Math.floor(deps.capacity * 0.8));
    this.outbox = new Outbox({
      capacity: deps.capacity,
      highWater,
      lowWater: Math.floor(highWater / 2),
      publish: (e) => this.breaker.fire(e),
      // Group commit sends a burst's messages together: publish them together (one round trip).
      window: PUBLISH_WINDOW,
      ...(deps.startAfter ? { startAfter: deps.startAfter } : {}),
      retryDelayMs: (attempt) => Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)),
      sleep: (ms, signal) =>
        new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, ms);
          signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
        }),
      onPressure: (high) => {
        deps.logger.warn(
          { high, waiting: this.outbox.size },
          high ? 'outbox above high water' : 'outbox drained',
        );
        deps.onPressure(high);
      },
      onPublishError: (err, e, attempt) => {
        deps.metrics.publishFailures.inc();
        if (attempt === 1 || attempt % 20 === 0) {
          // Outside the message's span: its trace id comes from the headers it carries.
          const trace = e.headers?.get('traceparent').split('-')[1];
          deps.logger.warn(
            { err, kind: e.kind, attempt, ...(trace ? { trace_id: trace } : {}) },
            'JetStream publish failed; retrying',
          );
        }
      },
      onPublished: (e) => {
        deps.metrics.eventsPublished.inc({ kind: e.kind });
        if (e.kind === 'message') deps.metrics.messagesIn.inc();
        deps.metrics.outboxSize.set(this.outbox.size);
      },
    });
  }

  /** Whether JetStream takes events right now (breaker closed, nothing stuck). */
  healthy(now = Date.now()): boolean {
    const since = this.outbox.failingSince;
    return (
      !this.breaker.opened &&
      (since === undefined || now - since < this.deps.stallAfterMs) &&
      !this.outbox.underPressure
    );
  }

  /**
   * JetStream has stopped taking events for a while (publishes failing past the stall time,
   * breaker open) or the backlog is above high water: time to stop acknowledging to WhatsApp.
   * A brief NATS disconnect alone is not a stall.
   */
  stalled(now = Date.now()): boolean {
    const since = this.outbox.failingSince;
    return (
      this.breaker.opened ||
      (since !== undefined && now - since >= this.deps.stallAfterMs) ||
      this.outbox.underPressure
    );
  }

  /**
   * Stores a message's attachment before the message is published (media/inbound-media.ts), so
   * `msg.in` carries its reference; set once the worker is composed. Never throws.
   */
  captureMedia:
    ((message: WAMessage, signal: AbortSignal) => Promise<InboundMessageEvent['media']>) | undefined;

  /** The inbound gate's `deliver`: resolves once the message is in JetStream. */
  deliverInbound = async (message: WAMessage, signal: AbortSignal): Promise<void> => {
    const publish = await this.prepareInbound(message, signal);
    await publish?.();
  };

  /**
   * The part of delivering that must happen before the message's Signal commit is even queued:
   * storing its attachment, which may ask WhatsApp for a re-upload through the socket (so it must
   * not wait behind a commit, as the publish does under group commit). Resolves with the publish
   * (which resolves once the message is in JetStream), or undefined for a message not published.
   *
   * The message's trace starts here, where it is decrypted: the `msg.in` span lasts (through its
   * attachment's download) until JetStream stored it, and travels in the stored message's
   * headers to the clinic's backend.
   */
  prepareInbound = async (
    message: WAMessage,
    signal: AbortSignal,
  ): Promise<(() => Promise<void>) | undefined> => {
    if (!isPublishable(message)) return undefined;
    const { span, ctx } = startSpan(
      'msg.in',
      inboundSpanOptions(this.deps.subjects.msgIn, message.key.id ?? ''),
    );
    try {
      // Inside the inbound gate: the receipt waits for the attachment too, so a crash mid-download
      // leaves the message unacknowledged and WhatsApp delivers it again.
      const media = await context.with(ctx, () => this.captureMedia?.(message, signal));
      const event = inboundMessageEvent(this.deps.ids, message, media);
      const headers = headersFor(ctx);
      return () =>
        context
          .with(ctx, () => this.publishInbound(event, signal, headers))
          .then(
            () => endSpan(span),
            (err: unknown) => {
              endSpan(span, err);
              throw err;
            },
          );
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  };

  private async publishInbound(
    event: InboundMessageEvent,
    signal: AbortSignal,
    headers?: MsgHdrs,
  ): Promise<void> {
    const data = encoder.encode(JSON.stringify(event));
    // A message is never dropped for lack of room: it waits (unacknowledged) until there is room.
    for (;;) {
      await this.outbox.waitForRoom(signal);
      try {
        const stored = this.outbox.enqueue({
          kind: 'message',
          subject: this.deps.subjects.msgIn,
          msgId: event.id,
          data,
          ...(headers ? { headers } : {}),
        });
        this.deps.metrics.outboxSize.set(this.outbox.size);
        return await abortable(stored, signal);
      } catch (err) {
        if (!(err instanceof OutboxFullError)) throw err;
        // Full (so above high water): loop back and wait for the backlog to drain.
      }
    }
  }

  /** A message Baileys emitted that did not pass the gate (fallback; already acknowledged). */
  publishUngated(message: WAMessage): void {
    if (!isPublishable(message)) return;
    const subject = this.deps.subjects.msgIn;
    void inSpan('msg.in', inboundSpanOptions(subject, message.key.id ?? ''), async () => {
      const media = await this.captureMedia?.(message, AbortSignal.timeout(10 * 60_000));
      const event = inboundMessageEvent(this.deps.ids, message, media);
      await this.enqueue('message', subject, event.id, event, headersFor());
    }).catch(() => undefined);
  }

  publishUpdates(events: MessageUpdateEvent[]): void {
    for (const e of events) {
      this.enqueue('update', this.deps.subjects.msgUpdate, updateDedupId(e), e).catch(() => undefined);
    }
  }

  publishStatus(report: StatusReport): void {
    const seq = ++this.statusSeq;
    const payload = statusEvent(this.deps.ids, report, seq, new Date());
    const id = `status:${this.deps.ids.worker}:${this.boot}:${seq}`;
    this.enqueue('status', this.deps.subjects.status, id, payload).catch(() => undefined);
  }

  /** QR codes and pairing codes: core NATS, never stored. */
  publishPairing(p: PairingPayload): void {
    const payload = pairingEvent(this.deps.ids, p, new Date());
    try {
      this.deps.nc.publish(this.deps.subjects.qr, encoder.encode(JSON.stringify(payload)));
      this.deps.metrics.qrCodes.inc({ type: p.type });
    } catch (err) {
      this.deps.logger.warn({ err }, 'could not publish pairing payload');
    }
  }

  private enqueue(
    kind: OutboxEventKind,
    subject: string,
    msgId: string,
    payload: unknown,
    headers?: MsgHdrs,
  ): Promise<void> {
    const done = this.outbox.enqueue({
      kind,
      subject,
      msgId,
      data: encoder.encode(JSON.stringify(payload)),
      ...(headers ? { headers } : {}),
    });
    this.deps.metrics.outboxSize.set(this.outbox.size);
    return done.catch((err: unknown) => {
      if (err instanceof OutboxFullError) {
        this.deps.metrics.eventsDropped.inc({ kind });
        this.deps.logger.error({ kind }, 'outbox full: event dropped');
      }
      throw err;
    });
  }

  async close(drainMs: number): Promise<boolean> {
    const drained = await this.outbox.drain(drainMs);
    this.outbox.close();
    this.breaker.shutdown();
    return drained;
  }
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}
