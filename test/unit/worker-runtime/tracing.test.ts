import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { headers as natsHeaders } from 'nats';
import { AckSpans } from '../../../worker/src/ops/traced-session.ts';
import {
  contextFromHeaders,
  headersFor,
  inSpan,
  SpanKind,
  traceLogFields,
  tracingWanted,
} from '../../../worker/src/ops/tracing.ts';

/**
 * The worker's tracing glue (worker/src/ops/tracing.ts, traced-session.ts): when OTEL_* turns it
 * on, how trace context goes in and out of NATS headers, what log lines get, and the ack spans.
 * The real SDK with an in-memory exporter; the OTLP path is in test/integration/observability/traces.test.ts.
 */
test('tracing is on only when an OTLP endpoint (or the otlp exporter) is asked for', () => {
  expect(tracingWanted({})).toBe(false);
  expect(tracingWanted({ OTEL_SERVICE_NAME: 'x' })).toBe(false);
  expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(true);
  expect(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe(true);
  expect(tracingWanted({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
  expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBe(
    false,
  );
  expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(
    false,
  );
});

describe('with no SDK registered (tracing off)', () => {
  test('nothing is read from or written to headers, logs get no ids, no ack span is kept', async () => {
    const h = natsHeaders();
    h.set('traceparent', `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`);
    await context.with(contextFromHeaders(h), async () => {
      expect(headersFor()).toBeUndefined();
      expect(traceLogFields()).toEqual({});
    });
    const acks = new AckSpans(1_000);
    acks.expect('MSG1');
    expect(acks.size).toBe(0);
  });
});

describe('with the SDK registered', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  });
  beforeEach(() => exporter.reset());

  test('a span continues the trace in the headers, and headers and log fields carry it on', async () => {
    const traceId = 'c'.repeat(32);
    const h = natsHeaders();
    h.set('traceparent', `00-${traceId}-${'d'.repeat(16)}-01`);
    const seen = await inSpan(
      'cmd.send',
      { kind: SpanKind.SERVER, parent: contextFromHeaders(h) },
      async (span) => ({
        fields: traceLogFields(),
        out: headersFor()?.get('traceparent'),
        spanId: span.spanContext().spanId,
      }),
    );
    expect(seen.fields).toEqual({ trace_id: traceId, span_id: seen.spanId });
    expect(seen.out).toBe(`00-${traceId}-${seen.spanId}-01`);
    const [finished] = exporter.getFinishedSpans();
    expect(finished!.parentSpanContext?.spanId).toBe('d'.repeat(16));
  });

  test('a failing span is marked as an error and the error goes on', async () => {
    await expect(
      inSpan('whatsapp.send', { kind: SpanKind.CLIENT }, async () => {
        throw new Error('socket closed');
      }),
    ).rejects.toThrow('socket closed');
    expect(exporter.getFinishedSpans()[0]!.status).toMatchObject({ code: 2, message: 'socket closed' });
  });

  test('an ack span ends at the ack, or with an error when none comes in time', async () => {
    const acks = new AckSpans(50);
    acks.expect('ACKED');
    acks.expect('LOST');
    expect(acks.size).toBe(2);
    acks.acked('ACKED');
    await new Promise((r) => setTimeout(r, 120));
    expect(acks.size).toBe(0);
    const byId = Object.fromEntries(
      exporter.getFinishedSpans().map((s) => [s.attributes['wa.message.id'], s.status.code]),
    );
    expect(byId).toEqual({ ACKED: 0, LOST: 2 });
  });

  test('waiting ack spans are bounded', () => {
    const acks = new AckSpans(60_000, 3);
    for (const id of ['A', 'B', 'C', 'D']) acks.expect(id);
    expect(acks.size).toBe(3);
    expect(exporter.getFinishedSpans().map((s) => s.attributes['wa.message.id'])).toEqual(['A']);
    for (const id of ['B', 'C', 'D']) acks.acked(id);
  });
});
