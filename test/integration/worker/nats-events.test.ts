import { randomUUID } from 'node:crypto';
import { proto, type WAMessage } from '@whiskeysockets/baileys';
import { AckPolicy, connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { testStack } from '../../harness/stack.ts';
import { ensureClinicStreamAtStart } from '../../../worker/src/events/nats.ts';
import { EventSink } from '../../../worker/src/events/sink.ts';
import {
  channelSubjects,
  clinicStream,
  ensureClinicStream,
  type MessageUpdateEvent,
} from '../../../contract/index.ts';
import { makeBreaker } from '../../../worker/src/ops/breakers.ts';
import { createMetrics } from '../../../worker/src/ops/metrics.ts';

/** Events go to real JetStream, once per id, however often they are published. */
describe('worker events in JetStream', () => {
  let nc: NatsConnection;
  const logger = pino({ level: 'silent' });
  const clinicId = `c-${randomUUID().slice(0, 8)}`;
  const channelId = 'main';
  const subjects = channelSubjects(clinicId, channelId);
  const stream = clinicStream(clinicId).name;
  let sink: EventSink;
  const metrics = createMetrics({ clinic: clinicId, channel: channelId });

  beforeAll(async () => {
    nc = await connect({ servers: testStack().nats.url });
    await ensureClinicStreamAtStart(await nc.jetstreamManager(), clinicId, logger);
    sink = new EventSink({
      nc,
      subjects,
      ids: { clinicId, channelId, worker: 'pod-1' },
      capacity: 100,
      metrics,
      logger,
      makeBreaker: (publish) => makeBreaker('nats', publish, { logger, metrics }),
      stallAfterMs: 10_000,
      onPressure: () => undefined,
    });
  });
  afterAll(async () => {
    await sink.close(1000);
    await nc.close();
  });

  const inbound = (id: string, text: string): WAMessage => ({
    key: { remoteJid: '5511988887777@s.whatsapp.net', fromMe: false, id },
    messageTimestamp: 1_700_000_000,
    pushName: 'Patient',
    message: proto.Message.fromObject({ conversation: text }),
  });

  async function readAll(filter: string) {
    const jsm = await nc.jetstreamManager();
    const name = `r${randomUUID().slice(0, 8)}`;
    await jsm.consumers.add(stream, {
      durable_name: name,
      ack_policy: AckPolicy.None,
      filter_subject: filter,
    });
    const consumer = await nc.jetstream().consumers.get(stream, name);
    const pending = (await consumer.info()).num_pending;
    const out: { subject: string; id: string | undefined; body: Record<string, unknown> }[] = [];
    if (pending === 0) return out;
    const batch = await consumer.fetch({ max_messages: pending, expires: 5_000 });
    for await (const m of batch) {
      out.push({ subject: m.subject, id: m.headers?.get('Nats-Msg-Id'), body: m.json() });
      if (out.length === pending) break;
    }
    return out;
  }

  test('an inbound message published three times (retries, redelivery) is stored once, with its WhatsApp id', async () => {
    const ac = new AbortController();
    const m = inbound('3EB0A1B2C3D4E5F6', 'hello doctor');
    await sink.deliverInbound(m, ac.signal);
    await sink.deliverInbound(m, ac.signal);
    await sink.deliverInbound(inbound('3EB0A1B2C3D4E5F6', 'hello doctor'), ac.signal);
    const stored = await readAll(subjects.msgIn);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.id).toBe('3EB0A1B2C3D4E5F6');
    expect(stored[0]!.body).toMatchObject({
      v: 1,
      clinicId,
      channelId,
      id: '3EB0A1B2C3D4E5F6',
      chat: '5511988887777@s.whatsapp.net',
      fromMe: false,
      pushName: 'Patient',
      type: 'conversation',
      text: 'hello doctor',
      message: { conversation: 'hello doctor' },
    });
  });

  test('plumbing messages (key shares, sender keys only) never reach the stream', async () => {
    const ac = new AbortController();
    const share = inbound('KEYSHARE1', '');
    share.message = proto.Message.fromObject({
      protocolMessage: {
        type: proto.Message.ProtocolMessage.Type.APP_STATE_SYNC_KEY_SHARE,
        appStateSyncKeyShare: { keys: [] },
      },
    });
    const skdm = inbound('SKDM1', '');
    skdm.message = proto.Message.fromObject({ senderKeyDistributionMessage: { groupId: 'g@g.us' } });
    await sink.deliverInbound(share, ac.signal);
    await sink.deliverInbound(skdm, ac.signal);
    const stored = await readAll(subjects.msgIn);
    expect(stored.map((s) => s.id)).not.toContain('KEYSHARE1');
    expect(stored.map((s) => s.id)).not.toContain('SKDM1');
  });

  test('receipts are stored once per message, kind and participant', async () => {
    const ids = { clinicId, channelId };
    const e: MessageUpdateEvent = {
      v: 1,
      ...ids,
      id: 'OUT1',
      chat: 'x@s.whatsapp.net',
      fromMe: true,
      update: 'delivered',
      timestamp: 1,
    };
    sink.publishUpdates([e, e, { ...e, update: 'read' }]);
    expect(await sink.outbox.drain(5_000)).toBe(true);
    const stored = await readAll(subjects.msgUpdate);
    expect(stored.map((s) => s.id).sort()).toEqual(['OUT1:delivered', 'OUT1:read']);
  });

  test('status changes are stored in order', async () => {
    for (const phase of ['Pending', 'Connecting', 'Connected'] as const) {
      sink.publishStatus({
        phase,
        reason: undefined,
        message: undefined,
        account: undefined,
        reconnects: 0,
        degraded: false,
        lastConnectedAt: undefined,
      });
    }
    expect(await sink.outbox.drain(5_000)).toBe(true);
    const stored = await readAll(subjects.status);
    expect(stored.map((s) => s.body.phase)).toEqual(['Pending', 'Connecting', 'Connected']);
    expect(new Set(stored.map((s) => s.id)).size).toBe(3);
  });

  test('setting up the clinic stream at start is idempotent and tolerates a concurrent creator', async () => {
    const jsm = await nc.jetstreamManager();
    const other = `c-${randomUUID().slice(0, 8)}`;
    // Two workers of one clinic starting together; each must go on without error.
    await Promise.all([ensureClinicStream(jsm, other), ensureClinicStream(jsm, other)]);
    const info = await jsm.streams.info(clinicStream(other).name);
    expect(info.config.subjects).toEqual(clinicStream(other).subjects);
    expect(info.config.max_age).toBe(14 * 24 * 3600 * 1e9);
    expect(info.config.duplicate_window).toBe(24 * 3600 * 1e9);
  });
});
