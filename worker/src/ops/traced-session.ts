/**
 * The spans of a send (ops/tracing.ts), around the session port the commands use:
 * - `whatsapp.send`: Baileys' sendMessage (encrypt for every device, write the stanza);
 * - `whatsapp.ack`: from the send until WhatsApp's server acknowledges the message id (it may
 *   come after the command's reply; a reconnect in between resends and the span waits on). It
 *   ends with an error when no ack came within the send-ack timeout.
 * With tracing off the spans are no-ops and nothing is kept.
 */
import { context, trace } from '@opentelemetry/api';
import type { OutgoingContent, SendOptions, SentMessage, SessionPort } from '../session/session-port.ts';
import { inSpan, SpanKind, SpanStatusCode, tracer, type Span } from './tracing.ts';

/** The `whatsapp.ack` spans waiting for their server ack, by message id (bounded). */
export class AckSpans {
  private readonly waiting = new Map<string, { span: Span; timer: NodeJS.Timeout }>();
  private readonly timeoutMs: number;
  private readonly capacity: number;

  constructor(timeoutMs: number, capacity = 1_000) {
    this.timeoutMs = timeoutMs;
    this.capacity = capacity;
  }

  /** Starts waiting for the ack of `id`, as a child of the active span. */
  expect(id: string): void {
    const span = tracer().startSpan('whatsapp.ack', {
      kind: SpanKind.CLIENT,
      attributes: { 'wa.message.id': id },
    });
    if (!span.isRecording()) return;
    this.end(id, 'superseded');
    const timer = setTimeout(() => this.end(id, 'no server ack in time'), this.timeoutMs);
    timer.unref();
    this.waiting.set(id, { span, timer });
    if (this.waiting.size > this.capacity) this.end(this.waiting.keys().next().value!, 'too many waiting');
  }

  /** The server acknowledged `id`. */
  acked(id: string): void {
    this.end(id);
  }

  /** The send failed before anything left. */
  failed(id: string, reason: string): void {
    this.end(id, reason);
  }

  get size(): number {
    return this.waiting.size;
  }

  private end(id: string, error?: string): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    if (error) w.span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    w.span.end();
  }
}

export function tracedSession(session: SessionPort, acks: AckSpans): SessionPort {
  return {
    get phase() {
      return session.phase;
    },
    send: (jid: string, content: OutgoingContent, options?: SendOptions): Promise<SentMessage> =>
      inSpan(
        'whatsapp.send',
        { kind: SpanKind.CLIENT, attributes: { 'wa.message.id': options?.messageId ?? '' } },
        async () => {
          const id = options?.messageId;
          if (id) acks.expect(id);
          try {
            const sent = await session.send(jid, content, options);
            trace.getSpan(context.active())?.setAttribute('wa.message.id', sent.id);
            return sent;
          } catch (err) {
            if (id) acks.failed(id, (err as Error)?.message ?? 'send failed');
            throw err;
          }
        },
      ),
    // The rest as they are (a method added to SessionPort must be added here: the type says so).
    markRead: (jid, messages) => session.markRead(jid, messages),
    setPresence: (state, jid) => session.setPresence(state, jid),
    checkNumbers: (numbers) => session.checkNumbers(numbers),
    groupInfo: (jid) => session.groupInfo(jid),
    reuploadMedia: (message) => session.reuploadMedia(message),
    pair: (mode, phoneNumber) => session.pair(mode, phoneNumber),
    logout: () => session.logout(),
  };
}
