import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { proto, type WAMessage } from '@whiskeysockets/baileys';
import { AckPolicy } from 'nats';
import pino from 'pino';
import { testStack } from '../../harness/stack.ts';
import { ManagedProcess, httpOk } from '../../harness/process.ts';
import { startNats } from '../../harness/servers/nats.ts';
import { connectNats, ensureClinicStreamAtStart, type NatsHandle } from '../../../worker/src/events/nats.ts';
import { EventSink } from '../../../worker/src/events/sink.ts';
import { channelSubjects, clinicStream, type MessageUpdateEvent } from '../../../contract/index.ts';
import { makeBreaker } from '../../../worker/src/ops/breakers.ts';
import { createMetrics } from '../../../worker/src/ops/metrics.ts';

/**
 * A NATS outage with a private nats-server (stopped and restarted on the same port and store):
 * events wait in the bounded outbox, inbound messages stay unacknowledged (their delivery does
 * not resolve), the sink reports the stall, and after the restart every event is stored once.
 */
describe('worker event sink across a NATS outage', () => {
  const logger = pino({ level: 'silent' });
  let dir: string;
  let server: ManagedProcess;
  let configFile: string;
  let monitorUrl: string;
  let nats: NatsHandle;

  beforeAll(async () => {
    dir = await mkdtemp(join(testStack().workDir, 'outage-'));
    const started = await startNats(testStack().bins.natsServer, dir);
    server = started.process;
    configFile = started.info.configFile;
    monitorUrl = started.info.monitorUrl;
    nats = await connectNats(
      { servers: [started.info.url], credsFile: undefined, name: 'outage-test' },
      logger,
    );
  });
  afterAll(async () => {
    await nats.nc.close().catch(() => undefined);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const restart = () =>
    ManagedProcess.start({
      name: 'nats-server (restarted)',
      command: testStack().bins.natsServer,
      args: ['-c', configFile],
      logFile: join(dir, 'nats-restarted.log'),
      ready: () => httpOk(`${monitorUrl}/healthz?js-enabled-only=true`),
    });

  const inbound = (id: string): WAMessage => ({
    key: { remoteJid: '5511988887777@s.whatsapp.net', fromMe: false, id },
    messageTimestamp: 1_700_000_000,
    message: proto.Message.fromObject({ conversation: `message ${id}` }),
  });

  test('nothing is lost or duplicated, and the backlog stays bounded', async () => {
    const clinicId = `c-${randomUUID().slice(0, 8)}`;
    const subjects = channelSubjects(clinicId, 'main');
    const metrics = createMetrics({ clinic: clinicId, channel: 'main' });
    await ensureClinicStreamAtStart(await nats.nc.jetstreamManager(), clinicId, logger);
    const pressure: boolean[] = [];
    const sink = new EventSink({
      nc: nats.nc,
      connected: nats.connected,
      subjects,
      ids: { clinicId, channelId: 'main', worker: 'pod-1' },
      capacity: 40,
      metrics,
      logger,
      makeBreaker: (publish) =>
        makeBreaker('nats', publish, { logger, metrics }, { timeoutMs: 2_000, resetTimeoutMs: 500 }),
      stallAfterMs: 1_000,
      onPressure: (high) => pressure.push(high),
    });

    // Some events before the outage.
    const ac = new AbortController();
    await sink.deliverInbound(inbound('BEFORE1'), ac.signal);

    await server.stop();
    try {
      const delivered = new Set<string>();
      const messages = ['DOWN1', 'DOWN2', 'DOWN3'].map((id) =>
        sink.deliverInbound(inbound(id), ac.signal).then(() => delivered.add(id)),
      );
      const update = (id: string): MessageUpdateEvent => ({
        v: 1,
        clinicId,
        channelId: 'main',
        id,
        chat: 'x@s.whatsapp.net',
        fromMe: true,
        update: 'delivered',
        timestamp: 1,
      });
      // 50 updates into a 40-event outbox: the excess is refused and counted, never queued without bound.
      const updates = Array.from({ length: 50 }, (_, i) => update(`OUT${i}`));
      sink.publishUpdates(updates);
      await sleep(100); // refusals are counted asynchronously

      for (let i = 0; i < 100 && !sink.stalled(); i++) await sleep(100);
      expect(sink.stalled()).toBe(true);
      expect(sink.healthy()).toBe(false);
      expect(sink.outbox.size).toBeLessThanOrEqual(40);
      expect(delivered.size).toBe(0); // inbound messages stay unacknowledged while NATS is down
      expect(pressure).toContain(true);
      const dropped = (await metrics.eventsDropped.get()).values.reduce((n, v) => n + v.value, 0);
      expect(dropped).toBeGreaterThan(0);

      server = await restart();
      await Promise.all(messages);
      expect(delivered.size).toBe(3);
      expect(await sink.outbox.drain(30_000)).toBe(true);
      for (let i = 0; i < 50 && !sink.healthy(); i++) await sleep(100);
      expect(sink.healthy()).toBe(true);

      // Redelivery after the outage (WhatsApp resends what was never acknowledged): deduplicated.
      await sink.deliverInbound(inbound('DOWN2'), ac.signal);

      const jsm = await nats.nc.jetstreamManager();
      const info = await jsm.streams.info(clinicStream(clinicId).name);
      const storedIds: string[] = [];
      await jsm.consumers.add(info.config.name, { durable_name: 'check', ack_policy: AckPolicy.None });
      const consumer = await nats.nc.jetstream().consumers.get(info.config.name, 'check');
      const batch = await consumer.fetch({ max_messages: info.state.messages, expires: 5_000 });
      for await (const m of batch) {
        storedIds.push(m.headers!.get('Nats-Msg-Id'));
        if (storedIds.length === info.state.messages) break;
      }
      expect(new Set(storedIds).size).toBe(storedIds.length); // no id twice
      for (const id of ['BEFORE1', 'DOWN1', 'DOWN2', 'DOWN3']) expect(storedIds).toContain(id);
      // every message plus every update that was accepted, nothing else
      expect(storedIds.length).toBe(4 + (50 - dropped));
    } finally {
      await sink.close(1_000);
    }
  });
});
