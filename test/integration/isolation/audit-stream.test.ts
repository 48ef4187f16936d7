import { pino } from 'pino';
import { AUDIT_STREAM, AuditTrail, auditSubject } from '../../../contract/index.ts';
import { startTrustedNats, storedAuditEvents, type TrustedNats } from './nats-fixture.ts';

/**
 * T21 (docs/security.md): an audit trail that cannot miss. Audited actions are stored by the
 * platform's audit stream whether or not anyone listens, only platform credentials read them,
 * and nothing can delete or purge them through the API. On nats-server in operator mode with
 * the clinic accounts the operator makes.
 */
let n: TrustedNats;
beforeAll(async () => {
  n = await startTrustedNats();
});
afterAll(async () => {
  await n?.stop();
});

test('audited actions are stored while nobody listens, once each, and read back by the platform', async () => {
  const trail = new AuditTrail('operator', () => n.platform, pino({ level: 'silent' }));
  const recorded = ['one', 'two', 'three'].map((channelId) =>
    trail.record({
      clinicId: n.clinicA,
      channelId,
      action: 'state.erased',
      outcome: 'ok',
      details: { objects: 3 },
    }),
  );
  await trail.flush();
  const stored = await storedAuditEvents(n.platform, n.clinicA);
  expect(stored).toEqual(recorded);
  expect(await storedAuditEvents(n.platform, n.clinicB)).toEqual([]);
});

test('the trail cannot be purged, nor an event deleted, through the JetStream API', async () => {
  const jsm = await n.platform.jetstreamManager();
  const before = (await jsm.streams.info(AUDIT_STREAM)).state.messages;
  expect(before).toBeGreaterThan(0);
  await expect(jsm.streams.purge(AUDIT_STREAM)).rejects.toThrow();
  await expect(jsm.streams.deleteMessage(AUDIT_STREAM, 1)).rejects.toThrow();
  expect((await jsm.streams.info(AUDIT_STREAM)).state.messages).toBe(before);
});

test("a clinic's backend credential can neither read the audit stream nor publish onto the trail", async () => {
  const backend = await n.connectAs((await n.issuer.issueClinicBackend(n.clinicA, 600)).creds);
  const errors: string[] = [];
  void (async () => {
    for await (const s of backend.status()) if (s.type === 'error') errors.push(String(s.data));
  })();
  // Through its own JetStream API prefix (the clinic's imports): the audit stream is not there.
  const jsm = await backend.jetstreamManager({ apiPrefix: 'JS.WA.API', checkAPI: false });
  await expect(jsm.streams.info(AUDIT_STREAM)).rejects.toThrow();
  // And a forged event on its own clinic's audit subject is refused by nats-server.
  backend.publish(auditSubject(n.clinicA, 'forged'), JSON.stringify({ forged: true }));
  await backend.flush();
  await backend.flush();
  expect(errors).toContain('PERMISSIONS_VIOLATION');
  expect((await storedAuditEvents(n.platform, n.clinicA)).map((e) => e.channelId)).not.toContain('forged');
});
