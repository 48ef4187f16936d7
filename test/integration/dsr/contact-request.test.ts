import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, type NatsConnection } from 'nats';
import { connect } from 'nats';
import {
  AUDIT_STREAM,
  auditSubject,
  channelSubjects,
  clinicStream,
  ensureAuditStream,
  ensureClinicStream,
  type AuditEvent,
} from '../../../contract/index.ts';
import { startNats } from '../../harness/servers/nats.ts';
import { testStack } from '../../harness/stack.ts';
import { fails, waCli } from '../../harness/wa-cli.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import {
  command,
  eventually,
  storedInbound,
  WorkerSuite,
  type ChannelEnv,
} from '../worker/worker-harness.ts';

/**
 * A data-subject request end to end: simulated contacts write to a real worker, whose events
 * land in the clinic's JetStream stream; `wa contact export` writes exactly one contact's
 * events to a file, `wa contact erase` deletes exactly those, and both are read back from the
 * audit stream, which names the request and never the contact.
 */
quietLibsignal();
const suite = new WorkerSuite('dsr');
let env: ChannelEnv;
const PHONE = '5511900000071';
const PATIENT = '5511977771001';
const NEIGHBOUR = '5511977771002';
const { s3 } = testStack();
const wa = waCli(['--server', testStack().nats.url], {
  WA_ACTOR: 'dpo-on-call',
  AWS_ACCESS_KEY_ID: s3.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
});
/** Where the workers keep their state, for the sent-message records. */
const stateArgs = () => [
  '--s3-bucket',
  suite.storage.bucket,
  '--s3-endpoint',
  s3.endpoint,
  '--s3-region',
  s3.region,
];
/** The channel's sent-message records in S3 (the worker keeps one per message it sent). */
const sentRecords = async () =>
  (await suite.storage.store.list(`wa/${env.clinic}/${env.channel}/messages/`)).map((o) => o.key);
const sentBy = new Map<string, string[]>();
/** The id of the clinic's message to the patient. */
let replyId: string;

/** Every stored event of the clinic (all subjects), read back with a consumer of its own. */
async function storedEvents(nc: NatsConnection, clinic: string) {
  const jsm = await nc.jetstreamManager();
  const stream = clinicStream(clinic).name;
  const name = `all-${randomUUID().slice(0, 8)}`;
  await jsm.consumers.add(stream, { name, ack_policy: AckPolicy.None, inactive_threshold: 60e9 });
  const consumer = await nc.jetstream().consumers.get(stream, name);
  const pending = (await consumer.info()).num_pending;
  const out: { seq: number; subject: string; raw: string }[] = [];
  if (pending > 0) {
    for await (const m of await consumer.fetch({ max_messages: pending, expires: 10_000 })) {
      out.push({ seq: m.seq, subject: m.subject, raw: m.string() });
      if (out.length === pending) break;
    }
  }
  await jsm.consumers.delete(stream, name);
  return out;
}

/** The audit events of the channel, read from the audit stream. */
async function auditEvents(nc: NatsConnection, clinic: string, channel: string): Promise<AuditEvent[]> {
  const jsm = await nc.jetstreamManager();
  const name = `audit-${randomUUID().slice(0, 8)}`;
  await jsm.consumers.add(AUDIT_STREAM, {
    name,
    ack_policy: AckPolicy.None,
    filter_subject: auditSubject(clinic, channel),
    inactive_threshold: 60e9,
  });
  const consumer = await nc.jetstream().consumers.get(AUDIT_STREAM, name);
  const pending = (await consumer.info()).num_pending;
  const out: AuditEvent[] = [];
  if (pending > 0) {
    for await (const m of await consumer.fetch({ max_messages: pending, expires: 10_000 })) {
      out.push(m.json<AuditEvent>());
      if (out.length === pending) break;
    }
  }
  await jsm.consumers.delete(AUDIT_STREAM, name);
  return out;
}

beforeAll(async () => {
  await ensureAuditStream(await suite.nc.jetstreamManager()); // as the operator does at start
  env = suite.envFor('reception');
  const paired = await suite.pair(env, 'pod-1', PHONE);
  paired.watch.stop();
  for (const [number, texts] of [
    [PATIENT, ['my exam results?', 'thank you']],
    [NEIGHBOUR, ['can I move my appointment?', 'tuesday is fine', 'see you']],
  ] as const) {
    const contact = suite.sim.contact(number, `Contact ${number.slice(-2)}`);
    const ids: string[] = [];
    for (const text of texts) ids.push((await contact.sendText(PHONE, text)).id);
    sentBy.set(number, ids);
  }
  // The clinic answers the patient: its outbound message's receipts are the patient's data too.
  const reply = await command(suite.nc, env.clinic, env.channel, 'send', {
    idempotencyKey: randomUUID(),
    to: PATIENT,
    text: 'your results are ready',
  });
  expect(reply.ok).toBe(true);
  if (!reply.ok) throw new Error(`send failed: ${reply.error.code}`);
  replyId = String(reply.result.messageId);
  await eventually("all five inbound messages and the reply's receipt stored", async () => {
    const stored = await storedInbound(suite.nc, env.clinic, env.channel);
    const all = await storedEvents(suite.nc, env.clinic);
    // The patient's phone sends its receipts (delivered, then read: the simulator's default) as it
    // likes: the read one is the last event of this conversation, so nothing arrives during the tests.
    const read = all.some(
      (e) =>
        e.subject.endsWith('.msg.update') && e.raw.includes(replyId) && e.raw.includes('"update":"read"'),
    );
    return stored.length >= 5 && read && (await sentRecords()).length === 1;
  });
});

describe('wa contact export / erase', () => {
  let exported: {
    events: { seq: number; subject: string; event: Record<string, unknown> }[];
    contact: string[];
    sentRecords: { bucket: string; key: string }[];
  };

  test("export writes exactly the contact's events to a new file, owner-readable only, and is audited", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsr-'));
    const out = join(dir, 'patient.json');
    await wa(
      'contact',
      'export',
      `${env.clinic}/${env.channel}`,
      `+${PATIENT}`,
      '--out',
      out,
      '--request',
      'DSR-41',
      ...stateArgs(),
    );
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    exported = JSON.parse(await readFile(out, 'utf8')) as typeof exported;

    // Every stored event that names the patient's number, and no other, is in the file.
    const all = await storedEvents(suite.nc, env.clinic);
    const namingPatient = all.filter((e) => e.subject.includes('.msg.') && e.raw.includes(PATIENT));
    expect(namingPatient.length).toBeGreaterThanOrEqual(2);
    const exportedSeqs = exported.events.map((e) => e.seq);
    for (const e of namingPatient) expect(exportedSeqs).toContain(e.seq);
    const inboundIds = exported.events.filter((e) => e.subject.endsWith('.msg.in')).map((e) => e.event.id);
    expect(new Set(inboundIds)).toEqual(new Set(sentBy.get(PATIENT)));
    const receipts = exported.events.filter((e) => e.subject.endsWith('.msg.update'));
    expect(receipts.map((e) => e.event.id)).toContain(replyId);
    expect(JSON.stringify(exported.events)).not.toContain(NEIGHBOUR);
    // The worker's record of the message sent to the patient is listed (encrypted: not its text).
    expect(exported.sentRecords).toEqual([{ bucket: suite.storage.bucket, key: (await sentRecords())[0] }]);
    expect(JSON.stringify(exported)).not.toContain('your results are ready');

    // A second export never overwrites the first file.
    const again = await fails(
      wa('contact', 'export', `${env.clinic}/${env.channel}`, PATIENT, '--out', out, '--request', 'DSR-41'),
    );
    expect(again.stderr).toMatch(/exists/);

    const trail = await eventually('the export on the audit trail', async () =>
      (await auditEvents(suite.nc, env.clinic, env.channel)).find((a) => a.action === 'contact.exported'),
    );
    expect(trail).toMatchObject({
      source: 'cli',
      actor: 'cli/dpo-on-call',
      outcome: 'ok',
      details: { request: 'DSR-41', events: exported.events.length, sentRecords: 1 },
    });
  });

  test("erase deletes every event of the contact, keeps the neighbour's, and is read back from the audit stream", async () => {
    const before = await storedEvents(suite.nc, env.clinic);
    const { stdout } = await wa(
      '--json',
      'contact',
      'erase',
      env.clinic,
      `${PATIENT}@s.whatsapp.net`,
      '--request',
      'DSR-41',
      '--yes',
      ...stateArgs(),
    );
    const result = JSON.parse(stdout) as { erased: number; left: number };
    expect(result).toMatchObject({ erased: exported.events.length, left: 0, sentRecords: 1 });
    expect(await sentRecords()).toEqual([]);

    const after = await storedEvents(suite.nc, env.clinic);
    // None of the patient's events is left, under any of its JIDs.
    for (const e of after) for (const jid of exported.contact) expect(e.raw).not.toContain(jid.split('@')[0]);
    // Every other event is intact, byte for byte and at its sequence.
    const erasedSeqs = new Set(exported.events.map((e) => e.seq));
    expect(after).toEqual(before.filter((e) => !erasedSeqs.has(e.seq)));
    const neighbour = await storedInbound(suite.nc, env.clinic, env.channel);
    expect(new Set(neighbour.map((m) => m.msgId))).toEqual(new Set(sentBy.get(NEIGHBOUR)));

    const trail = await auditEvents(suite.nc, env.clinic, env.channel);
    const erasure = trail.find((a) => a.action === 'contact.erased');
    expect(erasure).toMatchObject({
      source: 'cli',
      actor: 'cli/dpo-on-call',
      outcome: 'ok',
      details: { request: 'DSR-41', events: exported.events.length, sentRecords: 1 },
    });
    // The trail is kept for long and cannot be erased: it names the request, never the person.
    expect(JSON.stringify(trail)).not.toContain(PATIENT);
  });

  test('a second erase finds nothing left, and says so on the trail', async () => {
    const { stdout } = await wa(
      '--json',
      'contact',
      'erase',
      env.clinic,
      PATIENT,
      '--request',
      'DSR-41b',
      '--yes',
    );
    expect(JSON.parse(stdout)).toMatchObject({ erased: 0, left: 0 });
    const trail = await auditEvents(suite.nc, env.clinic, env.channel);
    expect(trail.find((a) => a.details?.request === 'DSR-41b')).toMatchObject({
      action: 'contact.erased',
      details: { events: 0 },
    });
  });

  test('erase refuses to run without --yes, and a number that is not one', async () => {
    expect((await fails(wa('contact', 'erase', env.clinic, PATIENT, '--request', 'x'))).stderr).toMatch(
      /--yes/,
    );
    const bad = await fails(wa('contact', 'erase', env.clinic, 'not-a-number', '--request', 'x', '--yes'));
    expect(bad.code).toBe(2);
  });

  test('with no audit stream to record it, nothing is exported or erased', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsr-unaudited-'));
    const started = await startNats(testStack().bins.natsServer, dir);
    const nc = await connect({ servers: started.info.url });
    try {
      await ensureClinicStream(await nc.jetstreamManager(), 'clinic-a');
      const jid = `${PATIENT}@s.whatsapp.net`;
      const event = {
        v: 1,
        clinicId: 'clinic-a',
        channelId: 'main',
        id: 'IN-1',
        chat: jid,
        sender: jid,
        fromMe: false,
      };
      await nc.jetstream().publish(channelSubjects('clinic-a', 'main').msgIn, JSON.stringify(event));
      const bare = waCli(['--server', started.info.url]);
      const out = join(dir, 'patient.json');
      const exported = await fails(
        bare('contact', 'export', 'clinic-a', PATIENT, '--out', out, '--request', 'r'),
      );
      expect(exported.stderr).toContain('no audit stream stores wa-audit.clinic-a.main');
      await expect(stat(out)).rejects.toThrow(/ENOENT/);
      const erased = await fails(bare('contact', 'erase', 'clinic-a', PATIENT, '--request', 'r', '--yes'));
      expect(erased.stderr).toContain('nothing was exported or erased');
      expect((await storedEvents(nc, 'clinic-a')).map((e) => JSON.parse(e.raw) as unknown)).toEqual([event]);
    } finally {
      await nc.close();
      await started.process.stop();
    }
  });
});
