import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { channelSubjects, idempotencyBucketName, idempotencyRecordKey } from '../../../contract/index.ts';
import {
  ChannelWatch,
  command,
  eventually,
  storedInbound,
  WorkerSuite,
  type ChannelEnv,
  type WorkerProcess,
} from './worker-harness.ts';

/**
 * Messages through a real worker process: inbound messages reach JetStream exactly once, even
 * when the worker is SIGKILLed in the middle of a burst; send commands reach the contact once,
 * also when a command is retried, on the same worker or on the next one after a SIGKILL.
 */

// The simulated contacts' libsignal prints whole session records (private keys included).
quietLibsignal();
const suite = new WorkerSuite('wmsg');
let env: ChannelEnv;
/** This file's workers, in start order. */
const workers: WorkerProcess[] = [];
const PHONE = '5511900000002';
const CONTACT = '5511977770001';

beforeAll(async () => {
  env = suite.envFor('reception');
  const paired = await suite.pair(env, 'pod-1', PHONE);
  workers.push(paired.worker);
  paired.watch.stop();
});

describe('messages through the worker', () => {
  test('200 inbound messages reach JetStream exactly once, across a SIGKILL mid-burst', async () => {
    const contact = suite.sim.contact(CONTACT, 'Patient');
    const sent: { id: string; text: string }[] = [];
    for (let i = 0; i < 200; i++) {
      const text = `burst message ${i}`;
      const s = await contact.sendText(PHONE, text);
      sent.push({ id: s.id, text });
    }
    // Kill the worker while it is still working through the burst.
    let storedAtKill = 0;
    await eventually(
      'some of the burst stored',
      async () => (storedAtKill = (await storedInbound(suite.nc, env.clinic, env.channel)).length) >= 20,
    );
    workers[0]!.kill('SIGKILL');
    await workers[0]!.exited;
    expect(storedAtKill).toBeLessThan(200);

    workers.push(await suite.startWorker(env, 'pod-1'));
    const stored = await eventually(
      'all 200 messages in JetStream',
      async () => {
        const all = await storedInbound(suite.nc, env.clinic, env.channel);
        return new Set(all.map((m) => m.msgId)).size >= 200 && all;
      },
      90_000,
    );
    // Exactly once: as many stream entries as distinct ids, and exactly the ids that were sent.
    expect(stored).toHaveLength(200);
    expect(new Set(stored.map((m) => m.msgId))).toEqual(new Set(sent.map((s) => s.id)));
    const byId = new Map(stored.map((m) => [m.msgId, m.event]));
    for (const s of sent) {
      expect(byId.get(s.id)).toMatchObject({ id: s.id, text: s.text, fromMe: false, clinicId: env.clinic });
      expect(
        byId.get(s.id)!.sender.startsWith(CONTACT) || byId.get(s.id)!.senderAlt?.startsWith(CONTACT),
      ).toBe(true);
    }
    // Everything was acknowledged to the server in the end (nothing left queued for the device).
    const device = suite.sim
      .phone(PHONE)
      .devices()
      .find((d) => !d.removed)!;
    await eventually(
      'the server queue drained',
      async () =>
        suite.sim
          .phone(PHONE)
          .devices()
          .find((d) => d.jid === device.jid)!.pending === 0,
    );
  });

  test('100 send commands give 100 messages at the contact; a retried command does not send twice', async () => {
    const contact = suite.sim.contact(CONTACT);
    const before = contact.inbox.filter((m) => m.from.startsWith(PHONE)).length;
    const replies = [];
    for (let batch = 0; batch < 10; batch++) {
      replies.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, j) => {
            const i = batch * 10 + j;
            return command(suite.nc, env.clinic, env.channel, 'send', {
              idempotencyKey: `appt-${i}`,
              to: `+${CONTACT}`,
              text: `reminder ${i}`,
            });
          }),
        )),
      );
    }
    for (const r of replies) expect(r).toMatchObject({ ok: true });
    const ids = replies.map((r) => (r.ok ? (r.result.messageId as string) : ''));
    expect(new Set(ids).size).toBe(100);

    // The client did not get the reply of #7 and retries it: the same answer, nothing new sent.
    const retry = await command(suite.nc, env.clinic, env.channel, 'send', {
      idempotencyKey: 'appt-7',
      to: `+${CONTACT}`,
      text: 'reminder 7',
    });
    expect(retry).toEqual({
      v: 1,
      ok: true,
      result: { ...(replies[7]!.ok ? replies[7]!.result : {}), replayed: true },
    });
    // Same key, different text: refused, nothing sent.
    const reused = await command(suite.nc, env.clinic, env.channel, 'send', {
      idempotencyKey: 'appt-7',
      to: `+${CONTACT}`,
      text: 'something else',
    });
    expect(reused).toMatchObject({ ok: false, error: { code: 'IdempotencyKeyReused' } });

    // A barrier: one more send, issued after every command above (the retries included) was
    // answered. Once it has arrived, a duplicate of an earlier send would have arrived too, so
    // counting stops only then, not at the 100th message.
    const barrier = await command(suite.nc, env.clinic, env.channel, 'send', {
      idempotencyKey: 'barrier',
      to: `+${CONTACT}`,
      text: 'barrier',
    });
    expect(barrier).toMatchObject({ ok: true });
    const received = await eventually('the barrier message at the contact', async () => {
      const mine = contact.inbox.filter((m) => m.from.startsWith(PHONE) && !m.ownCopy);
      return mine.some((m) => m.text === 'barrier') && mine;
    });
    const fresh = received.slice(before).filter((m) => m.text !== 'barrier');
    expect(fresh).toHaveLength(100);
    expect(new Set(fresh.map((m) => m.id))).toEqual(new Set(ids));
    expect(fresh.map((m) => m.text).sort()).toEqual(
      Array.from({ length: 100 }, (_, i) => `reminder ${i}`).sort(),
    );
    expect(suite.sim.problems()).toEqual([]);
  });

  test('a send retried across a worker SIGKILL is answered with the first result; the contact gets it once', async () => {
    const contact = suite.sim.contact(CONTACT);
    const body = { idempotencyKey: 'appt-sigkill', to: `+${CONTACT}`, text: 'your exam is tomorrow at 8' };
    const current = workers[workers.length - 1]!;
    // The backend's request is lost with the worker: its reply goes to an inbox nobody reads,
    // so the backend never learns the outcome and must retry.
    suite.nc.publish(
      channelSubjects(env.clinic, env.channel).command('send'),
      new TextEncoder().encode(JSON.stringify(body)),
      { reply: `_INBOX.lost-${Date.now().toString(36)}` },
    );
    // WhatsApp delivered it to the contact, and the worker recorded the outcome: then SIGKILL.
    const delivered = await eventually('the message at the contact', async () =>
      contact.inbox.find((m) => m.from.startsWith(PHONE) && !m.ownCopy && m.text === body.text),
    );
    const log = await suite.nc
      .jetstream()
      .views.kv(idempotencyBucketName(env.clinic), { bindOnly: true, allow_direct: true });
    const recorded = await eventually('the send recorded in the send log', async () => {
      const entry = await log.get(idempotencyRecordKey(env.channel, body.idempotencyKey));
      const record = entry?.json<{ state: string; outcome?: { messageId: string; timestamp: number } }>();
      return record?.state === 'done' && record.outcome;
    });
    expect(recorded.messageId).toBe(delivered.id);
    current.kill('SIGKILL');
    await current.exited;

    const watch = await ChannelWatch.start(suite.nc, env.clinic, env.channel);
    workers.push(await suite.startWorker(env, 'pod-1'));
    await watch.waitStatus('the restarted worker connected', (s) => s.phase === 'Connected');
    watch.stop();
    const retry = await command(suite.nc, env.clinic, env.channel, 'send', body);
    expect(retry).toEqual({
      v: 1,
      ok: true,
      result: {
        messageId: delivered.id,
        to: `${CONTACT}@s.whatsapp.net`,
        timestamp: recorded.timestamp,
        replayed: true,
      },
    });

    // A barrier sent after the retry was answered: once it arrived, a second copy would have too.
    const barrier = await command(suite.nc, env.clinic, env.channel, 'send', {
      idempotencyKey: 'barrier-sigkill',
      to: `+${CONTACT}`,
      text: 'barrier after the kill',
    });
    expect(barrier).toMatchObject({ ok: true });
    const mine = await eventually('the barrier at the contact', async () => {
      const all = contact.inbox.filter((m) => m.from.startsWith(PHONE) && !m.ownCopy);
      return all.some((m) => m.text === 'barrier after the kill') && all;
    });
    expect(mine.filter((m) => m.text === body.text)).toHaveLength(1);
    expect(suite.sim.problems()).toEqual([]);
  });
});
