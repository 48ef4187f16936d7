import { encodeUser, fmtCreds } from '@nats-io/jwt';
import { createUser } from '@nats-io/nkeys';
import type { NatsConnection } from 'nats';
import {
  CLINIC_BACKEND_CONSUMER,
  CLINIC_JS_API_PREFIX,
  auditSubject,
  channelSubjects,
  clinicStreamName,
} from '../../../contract/index.ts';
import { eventually } from '../../harness/eventually.ts';
import { publishVerdict, startTrustedNats, subscriptionVerdict, type TrustedNats } from './nats-fixture.ts';

/**
 * Threat group "a clinic reaches another clinic's NATS data" (docs/security.md): clinic A's
 * backend credential, issued by the operator's code, tries to read and write clinic B's
 * subjects, stream and commands on a real nats-server in operator mode.
 */
describe('clinic isolation on nats-server', () => {
  let n: TrustedNats;
  let a: NatsConnection;
  let aSubjects: ReturnType<typeof channelSubjects>;
  let bSubjects: ReturnType<typeof channelSubjects>;
  const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const served = new Map<string, number>();

  beforeAll(async () => {
    n = await startTrustedNats();
    aSubjects = channelSubjects(n.clinicA, 'front');
    bSubjects = channelSubjects(n.clinicB, 'front');
    a = await n.connectAs((await n.issuer.issueClinicBackend(n.clinicA, 600)).creds);
    // Each clinic's channel has a worker serving commands with its own worker credential.
    for (const [clinic, subjects] of [
      [n.clinicA, aSubjects],
      [n.clinicB, bSubjects],
    ] as const) {
      const worker = await n.connectAs((await n.issuer.issueWorker(clinic, 'front', 600)).creds);
      worker.subscribe(subjects.commands, {
        callback: (_err, msg) => {
          served.set(clinic, (served.get(clinic) ?? 0) + 1);
          msg.respond(encode({ v: 1, ok: true, result: { servedBy: clinic } }));
        },
      });
      await worker.flush();
    }
  }, 60_000);
  afterAll(async () => n?.stop());

  /** Stores one status event of clinic B's channel and returns the stream's last sequence. */
  async function storeBStatus(marker: string): Promise<number> {
    const ack = await n.platform.jetstream().publish(bSubjects.status, encode({ marker }));
    return ack.seq;
  }

  test('clinic A receives its own events, commands its own channel and reads its own stream', async () => {
    const events = a.subscribe(aSubjects.all, { max: 1 });
    await a.flush();
    const ack = await n.platform.jetstream().publish(aSubjects.status, encode({ phase: 'Connected' }));
    for await (const m of events) expect(m.subject).toBe(aSubjects.status);

    const reply = await a.request(aSubjects.command('send'), encode({}), { timeout: 5_000 });
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toEqual({
      v: 1,
      ok: true,
      result: { servedBy: n.clinicA },
    });

    const jsm = await a.jetstreamManager({ apiPrefix: CLINIC_JS_API_PREFIX, checkAPI: false });
    const stored = await jsm.streams.getMessage(clinicStreamName(n.clinicA), { seq: ack.seq });
    expect(stored.subject).toBe(aSubjects.status);
    expect(stored.json()).toEqual({ phase: 'Connected' });
  });

  test("clinic A subscribing to clinic B's subjects is refused by nats-server", async () => {
    for (const subject of [`wa.${n.clinicB}.>`, bSubjects.msgIn, 'wa.>', '>']) {
      expect(await subscriptionVerdict(a, subject)).toMatch(/permissions violation/i);
    }
  });

  test("clinic A sending a command to clinic B's channel is refused, and B's worker gets nothing", async () => {
    const servedBefore = served.get(n.clinicB) ?? 0;
    expect(await publishVerdict(a, bSubjects.command('logout'), encode({}))).toMatch(/PERMISSIONS_VIOLATION/);
    await expect(a.request(bSubjects.command('logout'), encode({}), { timeout: 2_000 })).rejects.toThrow();
    // B's own backend still reaches B's worker (the refusal is per credential, not a broken
    // route), and B's worker served exactly that one command: none of A's reached it.
    const b = await n.connectAs((await n.issuer.issueClinicBackend(n.clinicB, 600)).creds);
    const reply = await b.request(bSubjects.command('send'), encode({}), { timeout: 5_000 });
    expect(JSON.parse(new TextDecoder().decode(reply.data)).result).toEqual({ servedBy: n.clinicB });
    expect(served.get(n.clinicB)).toBe(servedBefore + 1);
  });

  test("clinic A reading clinic B's stream is refused by nats-server", async () => {
    const seq = await storeBStatus('secret-of-b');
    const streamB = clinicStreamName(n.clinicB);
    for (const subject of [
      `${CLINIC_JS_API_PREFIX}.STREAM.MSG.GET.${streamB}`,
      `${CLINIC_JS_API_PREFIX}.STREAM.INFO.${streamB}`,
      `$JS.API.STREAM.MSG.GET.${streamB}`,
      `$JS.API.DIRECT.GET.${streamB}`,
      `$JS.API.STREAM.INFO.${streamB}`,
      `$JS.API.CONSUMER.CREATE.${streamB}`,
    ]) {
      expect(await publishVerdict(a, subject, encode({ seq }))).toMatch(/PERMISSIONS_VIOLATION/);
    }
  });

  test("even a clinic A user with no permission limits sees nothing of clinic B: B's subjects and stream are not in A's account", async () => {
    // As if the operator had issued a user without permissions: only the account boundary is left.
    const user = createUser();
    const jwt = await encodeUser('unrestricted', user, n.issuer.clinicAccountKey(n.clinicA), {
      subs: -1,
      data: -1,
      payload: -1,
    });
    const loose = await n.connectAs(new TextDecoder().decode(fmtCreds(jwt, user)));
    const seen: string[] = [];
    const all = loose.subscribe('>', { callback: (_e, m) => seen.push(m.subject) });
    await loose.flush();
    // B's event first, then A's: once A's arrived, B's would have too (one publisher, in order).
    await storeBStatus('b-event');
    await n.platform.jetstream().publish(aSubjects.status, encode({ marker: 'a-event' }));
    await eventually("clinic A's own event", async () => seen.includes(aSubjects.status), 10_000);
    expect(seen.filter((s) => s.includes(n.clinicB))).toEqual([]);

    // Without the `>` subscription, which would take the requests below itself.
    await all.drain();
    const asker = loose;
    const streamB = clinicStreamName(n.clinicB);
    for (const subject of [
      `${CLINIC_JS_API_PREFIX}.STREAM.MSG.GET.${streamB}`,
      `$JS.API.STREAM.MSG.GET.${streamB}`,
      bSubjects.command('send'),
    ]) {
      const outcome = await asker.request(subject, encode({ seq: 1 }), { timeout: 5_000 }).then(
        (m) => m.string(),
        (e: unknown) => String(e),
      );
      // No responder in A's account, or JetStream's "not enabled for this account": never B's message.
      expect(outcome).toMatch(/503|not enabled/i);
      expect(outcome).not.toMatch(/"message"\s*:/);
    }
  });

  test("clinic A cannot make a worker or JetStream publish onto clinic B's subjects through a reply subject", async () => {
    const before = await storeBStatus('before');
    // The reply subject of a request is chosen by the requester. Inside clinic A's account it
    // stays in that account: the import maps it, so B's subjects are out of reach.
    a.publish(aSubjects.command('send'), encode({}), { reply: bSubjects.status });
    a.publish(`${CLINIC_JS_API_PREFIX}.STREAM.INFO.${clinicStreamName(n.clinicA)}`, encode({}), {
      reply: bSubjects.status,
    });
    await a.flush();
    // Round trips through the same two responders: the injected requests were answered first.
    await a.request(aSubjects.command('send'), encode({}), { timeout: 5_000 });
    const jsm = await a.jetstreamManager({ apiPrefix: CLINIC_JS_API_PREFIX, checkAPI: false });
    await jsm.streams.info(clinicStreamName(n.clinicA));
    const after = await storeBStatus('after');
    expect(after).toBe(before + 1);
  });

  test("clinic A's backend resumes from its clinic's durable consumer and acknowledges; clinic B's consumer is out of reach", async () => {
    const streamA = clinicStreamName(n.clinicA);
    const streamB = clinicStreamName(n.clinicB);
    /** Pulls everything the consumer has for us and acknowledges each message (ackAck: confirmed). */
    const pullAll = async (nc: NatsConnection) => {
      const js = nc.jetstream({ apiPrefix: CLINIC_JS_API_PREFIX });
      const consumer = await js.consumers.get(streamA, CLINIC_BACKEND_CONSUMER);
      const { num_pending: pending, num_ack_pending: unacked } = await consumer.info();
      const got: unknown[] = [];
      if (pending + unacked === 0) return got;
      for await (const m of await consumer.fetch({ max_messages: pending + unacked, expires: 5_000 })) {
        expect(m.subject.startsWith(`wa.${n.clinicA}.`)).toBe(true);
        got.push(m.json());
        await m.ackAck();
        if (got.length === pending + unacked) break;
      }
      return got;
    };
    const backend = await n.connectAs((await n.issuer.issueClinicBackend(n.clinicA, 600)).creds);
    await pullAll(backend); // whatever earlier tests stored
    await backend.close(); // the backend goes down…
    const js = n.platform.jetstream();
    await js.publish(aSubjects.msgIn, encode({ marker: 'while-down-1' }));
    await js.publish(aSubjects.msgIn, encode({ marker: 'while-down-2' }));
    // …and a new instance reads exactly what it missed, once.
    const restarted = await n.connectAs((await n.issuer.issueClinicBackend(n.clinicA, 600)).creds);
    expect(await pullAll(restarted)).toEqual([{ marker: 'while-down-1' }, { marker: 'while-down-2' }]);
    expect(await pullAll(restarted)).toEqual([]);

    const bPendingBefore = (
      await (await n.platform.jetstreamManager()).consumers.info(streamB, CLINIC_BACKEND_CONSUMER)
    ).num_pending;
    await storeBStatus('for-b-only');
    for (const subject of [
      `${CLINIC_JS_API_PREFIX}.CONSUMER.MSG.NEXT.${streamB}.${CLINIC_BACKEND_CONSUMER}`,
      `$JS.API.CONSUMER.MSG.NEXT.${streamB}.${CLINIC_BACKEND_CONSUMER}`,
      `${CLINIC_JS_API_PREFIX}.CONSUMER.INFO.${streamB}.${CLINIC_BACKEND_CONSUMER}`,
      `$JS.ACK.${streamB}.${CLINIC_BACKEND_CONSUMER}.1.1.1.1.0`,
    ]) {
      expect(await publishVerdict(restarted, subject, encode({ batch: 10 }))).toMatch(
        /PERMISSIONS_VIOLATION/,
      );
    }
    // B's consumer lost nothing to A: B's new event is still waiting for B's backend.
    const bInfo = await (
      await n.platform.jetstreamManager()
    ).consumers.info(streamB, CLINIC_BACKEND_CONSUMER);
    expect(bInfo.num_pending).toBe(bPendingBefore + 1);
    expect(bInfo.num_ack_pending).toBe(0);
  });

  test('the audit subjects are unreachable for a clinic credential', async () => {
    expect(await subscriptionVerdict(a, auditSubject(n.clinicA, 'front'))).toMatch(/permissions violation/i);
    expect(await subscriptionVerdict(a, 'wa-audit.>')).toMatch(/permissions violation/i);
  });
});
