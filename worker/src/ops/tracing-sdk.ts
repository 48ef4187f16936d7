/**
 * The OpenTelemetry SDK, loaded only when tracing is on (tracing.ts): the trace SDK with a
 * batch processor and the OTLP/HTTP protobuf exporter, which reads the standard
 * OTEL_EXPORTER_OTLP_* variables itself (endpoint, headers, timeout, compression, certificates);
 * the resource reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES. The W3C trace-context
 * propagator and an AsyncLocalStorage context manager make the active span follow the work.
 * Sampling: parent-based, always on at the root, or a ratio of root traces with
 * OTEL_TRACES_SAMPLER=traceidratio / parentbased_traceidratio and OTEL_TRACES_SAMPLER_ARG.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import type { Tracing } from './tracing.ts';

function sampler(env: Record<string, string | undefined>): Sampler {
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const root = (name: string | undefined): Sampler => {
    switch (name) {
      case 'always_off':
        return new AlwaysOffSampler();
      case 'traceidratio':
        return new TraceIdRatioBasedSampler(Number.isFinite(ratio) ? ratio : 1);
      default:
        return new AlwaysOnSampler();
    }
  };
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase();
  if (name === 'always_on' || name === 'always_off' || name === 'traceidratio') return root(name);
  // parentbased_* (the default): follow the caller's decision, sample roots as named.
  return new ParentBasedSampler({ root: root(name?.replace(/^parentbased_/, '')) });
}

export function registerTracing(
  env: Record<string, string | undefined>,
  ids: { clinicId: string; channelId: string; worker: string },
): Tracing {
  const resource = resourceFromAttributes({
    'service.name': 'whatsapp-worker',
    'service.instance.id': ids.worker,
    'wa.clinic': ids.clinicId,
    'wa.channel': ids.channelId,
  }).merge(detectResources({ detectors: [envDetector] }));
  const scheduledDelayMillis = Number(env.OTEL_BSP_SCHEDULE_DELAY ?? '5000');
  const provider = new TracerProvider({
    resource,
    sampler: sampler(env),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter(),
        scheduledDelayMillis: Number.isFinite(scheduledDelayMillis) ? scheduledDelayMillis : 5000,
      }),
    ],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return { shutdown: () => provider.shutdown() };
}
