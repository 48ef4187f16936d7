import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import { auditSubject, channelSubjects, clinicStreamName, validatePayload } from '../../../contract/index.ts';
import { testStack } from '../../harness/stack.ts';
import type { Simulator } from '../../../wa-sim/simulator.ts';
import { ChannelWatch, eventually, realStorage, startWorker } from '../worker/worker-harness.ts';
import { publishVerdict, startTrustedNats, subscriptionVerdict, type TrustedNats } from './nats-fixture.ts';

/**
 * Threat group "a compromised worker reaches other channels" (docs/security.md): the
 * per-channel worker credential issued by the operator's code, on a real nats-server in
 * operator mode. The same credential runs a real worker process, so the permissions are
 * shown to be enough for everything the worker does.
 */
describe('worker credential confinement on nats-server', () => {
  let n: TrustedNats;
  let worker: NatsConnection;
  let creds: string;
  const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

  beforeAll(async () => {
    n = await startTrustedNats();
    creds = (await n.issuer.issueWorker(n.clinicA, 'front', 600)).creds;
    worker = await n.connectAs(creds);
  }, 60_000);
  afterAll(async () => n?.stop());

  test("a worker publishing on another channel's or clinic's subjects is refused, and nothing is stored", async () => {
    const jsm = await n.platform.jetstreamManager();
    const streamA = clinicStreamName(n.clinicA);
    const before = (await jsm.streams.info(streamA)).state.last_seq;
    for (const subject of [
      channelSubjects(n.clinicA, 'back').status,
      channelSubjects(n.clinicA, 'back').msgIn,
      channelSubjects(n.clinicB, 'front').msgIn,
      channelSubjects(n.clinicA, 'back').command('send'),
      auditSubject(n.clinicA, 'back'),
    ]) {
      expect(await publishVerdict(worker, subject, encode({ forged: true }))).toMatch(
        /PERMISSIONS_VIOLATION/,
      );
    }
    // Its own channel's subject is accepted and lands in the stream: the only new message.
    expect(
      await publishVerdict(worker, channelSubjects(n.clinicA, 'front').status, encode({})),
    ).toBeUndefined();
    await eventually(
      'the own event stored',
      async () => (await jsm.streams.info(streamA)).state.last_seq > before,
    );
    const info = await jsm.streams.info(streamA, { subjects_filter: `wa.${n.clinicA}.>` });
    expect(Object.keys(info.state.subjects ?? {})).toEqual([channelSubjects(n.clinicA, 'front').status]);
    expect((await jsm.streams.info(clinicStreamName(n.clinicB))).state.messages).toBe(0);
  });

  test("a worker cannot listen to another channel's commands, to its clinic, or to other users' replies", async () => {
    for (const subject of [
      channelSubjects(n.clinicA, 'back').commands,
      channelSubjects(n.clinicB, 'front').commands,
      `wa.${n.clinicA}.>`,
      '_INBOX.>',
      '_INBOX_' + n.clinicA + '_back.>',
      'wa-audit.>',
    ]) {
      expect(await subscriptionVerdict(worker, subject)).toMatch(/permissions violation/i);
    }
    expect(await subscriptionVerdict(worker, channelSubjects(n.clinicA, 'front').commands)).toBeUndefined();
  });

  test('a worker may not create, change, purge or delete streams', async () => {
    const streamA = clinicStreamName(n.clinicA);
    for (const subject of [
      '$JS.API.STREAM.CREATE.EVIL',
      `$JS.API.STREAM.UPDATE.${streamA}`,
      `$JS.API.STREAM.PURGE.${streamA}`,
      `$JS.API.STREAM.DELETE.${streamA}`,
      `$JS.API.STREAM.MSG.GET.${clinicStreamName(n.clinicB)}`,
      `$JS.API.CONSUMER.CREATE.${streamA}`,
    ]) {
      expect(await publishVerdict(worker, subject, encode({ name: 'EVIL' }))).toMatch(
        /PERMISSIONS_VIOLATION/,
      );
    }
  });

  test('a real worker process runs on its credential: statuses stored through JetStream, commands answered and audited', async () => {
    const storage = await realStorage('iso-worker');
    const dir = testStack().workDir;
    const credsFile = join(dir, `iso-worker-${Date.now().toString(36)}.creds`);
    writeFileSync(credsFile, creds, { mode: 0o600 });
    const trustRoot = join(dir, `iso-worker-${Date.now().toString(36)}-root.hex`);
    writeFileSync(trustRoot, '11'.repeat(32));
    const watch = await ChannelWatch.start(n.platform, n.clinicA, 'front');
    // No WhatsApp here (nothing listens on port 9): the worker keeps reconnecting, which is enough.
    const proc = await startWorker(
      {
        clinic: n.clinicA,
        channel: 'front',
        storage,
        sim: { url: 'ws://127.0.0.1:9' } as Simulator,
        trustRoot,
      },
      'iso-worker_1',
      { NATS_URL: n.url, NATS_CREDS_FILE: credsFile },
    );
    try {
      await watch.waitStatus('Connecting from the worker', (s) => s.phase === 'Connecting', 60_000);
      const jsm = await n.platform.jetstreamManager();
      const stored = await jsm.streams.getMessage(clinicStreamName(n.clinicA), {
        last_by_subj: channelSubjects(n.clinicA, 'front').status,
      });
      expect(stored.json<{ worker: string }>().worker).toBe('iso-worker_1');
      const audit = n.platform.subscribe(auditSubject(n.clinicA, 'front'), { max: 1 });
      await n.platform.flush();
      const backendCreds = await n.issuer.issueClinicBackend(n.clinicA, 600);
      const backend = await n.connectAs(backendCreds.creds);
      const reply = await backend.request(
        channelSubjects(n.clinicA, 'front').command('send'),
        encode({ idempotencyKey: 'k1', to: '+5511987654321', text: 'hi' }),
        { timeout: 10_000 },
      );
      expect(reply.json<{ ok: boolean; error?: { code: string } }>().error?.code).toBe('NotConnected');
      // The command is on the audit trail, with the clinic account and user that sent it.
      for await (const m of audit) {
        const event = validatePayload('audit', m.json());
        expect(event.ok && event.value).toMatchObject({
          clinicId: n.clinicA,
          channelId: 'front',
          action: 'command.received',
          source: 'worker',
          outcome: 'NotConnected',
          details: { verb: 'send' },
        });
        expect(event.ok && event.value.actor).toContain(backendCreds.account);
        expect(m.string()).not.toContain('+5511987654321');
      }
      expect(proc.logs()).not.toMatch(/Permissions Violation|PERMISSIONS_VIOLATION/i);
    } finally {
      proc.kill('SIGTERM');
      await proc.exited;
      watch.stop();
    }
  });
});
