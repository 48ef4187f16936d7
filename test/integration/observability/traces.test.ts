import { randomBytes } from 'node:crypto';
import { headers as natsHeaders } from 'nats';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { channelSubjects, clinicStream, type CommandReply } from '../../../contract/index.ts';
import { startCollector, type Collector, type ExportedSpan } from '../../harness/servers/otelcol.ts';
import { testStack } from '../../harness/stack.ts';
import { eventually, WorkerSuite, type ChannelEnv, type WorkerProcess } from '../worker/worker-harness.ts';

/**
 * Traces across NATS, into a real OpenTelemetry Collector (test/servers/go/otelcol: OTLP
 * receiver, file exporter): a real worker process with tracing on (OTEL_EXPORTER_OTLP_ENDPOINT),
 * linked to the WhatsApp simulator. A `cmd.send` whose request carries a backend's W3C trace
 * context gives one connected trace (the command, Baileys' send, WhatsApp's ack) and a reply
 * that carries it on; an inbound message's trace starts in the worker and is stored in the
 * JetStream message's headers. The worker's log lines of that work carry the trace id.
 */
quietLibsignal();
const stack = testStack();
let collector: Collector;
const suite = new WorkerSuite('wtrace', async () => collector?.stop());
let env: ChannelEnv;
let worker: WorkerProcess;
const PHONE = '5511900000031';
const CONTACT = '5511977770031';

beforeAll(async () => {
  collector = await startCollector(stack.bins.otelcol, stack.workDir);
  env = suite.envFor('reception');
  const paired = await suite.pair(env, 'pod-trace', PHONE, {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    WA_LOG_LEVEL: 'debug',
  });
  worker = paired.worker;
  paired.watch.stop();
}, 120_000);

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

async function traceSpans(traceId: string, names: string[]): Promise<ExportedSpan[]> {
  return eventually(
    `spans ${names.join(', ')} of trace ${traceId} in the collector's output`,
    async () => {
      const spans = (await collector.spans()).filter((s) => s.traceId === traceId);
      return names.every((n) => spans.some((s) => s.name === n)) && spans;
    },
    30_000,
  );
}

/** The worker's JSON log lines that carry `traceId`. */
function logLinesOf(traceId: string): { msg: string; trace_id: string; span_id: string }[] {
  return worker
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; trace_id: string; span_id: string })
    .filter((l) => l.trace_id === traceId);
}

test('a traced cmd.send is one trace: command, Baileys send and WhatsApp ack, carried on in the reply', async () => {
  const contact = suite.sim.contact(CONTACT, 'Patient');
  // The clinic backend's request span, as its own OpenTelemetry SDK would put it in the headers.
  const traceId = hex(16);
  const backendSpan = hex(8);
  const h = natsHeaders();
  h.set('traceparent', `00-${traceId}-${backendSpan}-01`);
  const reply = await suite.nc.request(
    channelSubjects(env.clinic, env.channel).command('send'),
    new TextEncoder().encode(
      JSON.stringify({ idempotencyKey: 'traced-1', to: `+${CONTACT}`, text: 'traced hello' }),
    ),
    { timeout: 30_000, headers: h },
  );
  expect(reply.json<CommandReply>()).toMatchObject({ ok: true });
  await eventually('the contact to receive the message', async () =>
    contact.inbox.some((m) => m.text === 'traced hello'),
  );

  const spans = await traceSpans(traceId, ['cmd.send', 'whatsapp.send', 'whatsapp.ack']);
  const byName = (n: string) => spans.find((s) => s.name === n)!;
  // One connected trace: a chain from the backend's span, every span the worker's.
  expect(byName('cmd.send').parentSpanId).toBe(backendSpan);
  expect(byName('whatsapp.send').parentSpanId).toBe(byName('cmd.send').spanId);
  expect(byName('whatsapp.ack').parentSpanId).toBe(byName('whatsapp.send').spanId);
  const ids = new Set([backendSpan, ...spans.map((s) => s.spanId)]);
  for (const s of spans) {
    expect({ span: s.name, service: s.service }).toEqual({ span: s.name, service: 'whatsapp-worker' });
    expect({ span: s.name, connected: ids.has(s.parentSpanId) }).toEqual({ span: s.name, connected: true });
  }
  // Acknowledged by WhatsApp's server (the simulator), not timed out.
  expect(byName('whatsapp.ack').status?.code ?? 0).not.toBe(2);
  expect(byName('whatsapp.ack').attributes['wa.message.id']).toBe(
    byName('whatsapp.send').attributes['wa.message.id'],
  );
  // The reply carries the command's span: the backend's trace goes on from there.
  expect(reply.headers?.get('traceparent')).toBe(`00-${traceId}-${byName('cmd.send').spanId}-01`);
  // The worker's log line of the command carries the trace.
  expect(logLinesOf(traceId)).toContainEqual(
    expect.objectContaining({ msg: 'command answered', span_id: byName('cmd.send').spanId }),
  );
});

test("an inbound message's trace starts in the worker and travels in the JetStream message's headers", async () => {
  const sent = await suite.sim.contact(CONTACT).sendText(PHONE, 'traced question');
  const jsm = await suite.nc.jetstreamManager();
  const stored = await eventually('the message in JetStream', async () =>
    jsm.streams
      .getMessage(clinicStream(env.clinic).name, {
        last_by_subj: channelSubjects(env.clinic, env.channel).msgIn,
      })
      .then((m) => (m.header.get('Nats-Msg-Id') === sent.id ? m : undefined))
      .catch(() => undefined),
  );
  const traceparent = stored.header.get('traceparent');
  expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  const [, traceId, spanId] = traceparent.split('-');
  const [span] = await traceSpans(traceId!, ['msg.in']);
  // The trace's root, in the worker; the headers name it as the parent of the backend's work.
  expect(span).toMatchObject({ name: 'msg.in', spanId, parentSpanId: '', service: 'whatsapp-worker' });
  expect(span!.attributes['messaging.message.id']).toBe(sent.id);
});

test('with tracing off (the default) no trace context is written or answered', async () => {
  const plain = suite.envFor('front-desk');
  const { worker: untraced } = await suite.pair(plain, 'pod-plain', '5511900000032');
  const h = natsHeaders();
  h.set('traceparent', `00-${hex(16)}-${hex(8)}-01`);
  const reply = await suite.nc.request(
    channelSubjects(plain.clinic, plain.channel).command('send'),
    new TextEncoder().encode(
      JSON.stringify({ idempotencyKey: 'plain-1', to: `+${CONTACT}`, text: 'untraced' }),
    ),
    { timeout: 30_000, headers: h },
  );
  expect(reply.json<CommandReply>()).toMatchObject({ ok: true });
  expect(reply.headers?.get('traceparent') ?? '').toBe('');
  expect(untraced.stdout()).not.toContain('"trace_id"');
  expect(untraced.stdout()).not.toContain('tracing on');
});
