/**
 * Tracing, off by default (docs/operations.md, "Traces"). Only `@opentelemetry/api` is loaded
 * here, a few kB that do nothing until an SDK registers: with tracing off every span is a no-op
 * and no context is read from or written to NATS headers. With an OTLP endpoint configured by the
 * standard OTEL_* variables, tracing-sdk.ts (the SDK and the OTLP exporter) is loaded on demand.
 *
 * W3C trace context travels in NATS message headers (`traceparent`, `tracestate`): a command's
 * request headers, its reply's headers, and the headers of every inbound message stored in
 * JetStream. Every log line written in a span's context carries `trace_id` and `span_id`.
 */
import {
  context,
  propagation,
  trace,
  SpanKind,
  SpanStatusCode,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { headers as natsHeaders, type MsgHdrs } from 'nats';

export { context, SpanKind, SpanStatusCode, type Span };

export const TRACER_NAME = 'whatsapp-worker';

export function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Whether the OTEL_* environment asks for traces: an OTLP endpoint is set (or OTEL_TRACES_EXPORTER
 * is `otlp`, meaning the default http://localhost:4318), and neither OTEL_SDK_DISABLED=true nor
 * OTEL_TRACES_EXPORTER=none says otherwise.
 */
export function tracingWanted(env: Record<string, string | undefined>): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase();
  if (exporter === 'none') return false;
  return (
    exporter === 'otlp' || Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
  );
}

export interface Tracing {
  /** Sends the spans still buffered (called on shutdown). */
  shutdown(): Promise<void>;
}

/** Starts the SDK when the environment asks for it; otherwise nothing is loaded. */
export async function startTracing(
  env: Record<string, string | undefined>,
  resource: { clinicId: string; channelId: string; worker: string },
): Promise<Tracing | undefined> {
  if (!tracingWanted(env)) return undefined;
  const { registerTracing } = await import('./tracing-sdk.ts');
  return registerTracing(env, resource);
}

const getter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => (carrier ? carrier.keys() : []),
  get: (carrier, key) => carrier?.get(key) || undefined,
};
const setter: TextMapSetter<MsgHdrs> = { set: (carrier, key, value) => carrier.set(key, value) };

/** The context a NATS message's headers carry (the active context when they carry none). */
export function contextFromHeaders(headers: MsgHdrs | undefined): Context {
  return propagation.extract(context.active(), headers, getter);
}

/** NATS headers carrying `ctx` (or the active context); undefined when there is nothing to carry. */
export function headersFor(ctx: Context = context.active(), into?: MsgHdrs): MsgHdrs | undefined {
  const h = into ?? natsHeaders();
  propagation.inject(ctx, h, setter);
  return h.has('traceparent') ? h : into;
}

/** `trace_id` and `span_id` of the active span, for every log line (pino's mixin). */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const sc = trace.getSpanContext(context.active());
  return sc && trace.isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
}

export interface SpanOptions {
  kind: SpanKind;
  attributes?: Record<string, string | number | boolean>;
  parent?: Context;
}

/** A new span (a child of `parent` or the active context) and the context that holds it. */
export function startSpan(name: string, options: SpanOptions): { span: Span; ctx: Context } {
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(
    name,
    { kind: options.kind, ...(options.attributes ? { attributes: options.attributes } : {}) },
    parent,
  );
  return { span, ctx: trace.setSpan(parent, span) };
}

/** Ends a span; with `err`, marked as failed by it. */
export function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
  }
  span.end();
}

/** Runs `work` in a new active span that ends with it, its status set from the outcome. */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const { span, ctx } = startSpan(name, options);
  try {
    const out = await context.with(ctx, () => work(span));
    endSpan(span);
    return out;
  } catch (err) {
    endSpan(span, err);
    throw err;
  }
}
