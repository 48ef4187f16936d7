import { createHash } from 'node:crypto';
import { headers, type NatsConnection } from 'nats';
import {
  clinicSendBudgetSubject,
  idempotencyBucketName,
  idempotencyRecordKey,
  idempotencyStreamName,
  idempotencySubjectPrefix,
  workerInboxPrefix,
} from '../../../contract/index.ts';
import type { Logger } from 'pino';
import { KvSendLog } from '../../../worker/src/commands/send-log.ts';
import { KvClinicBudget } from '../../../worker/src/pacing/clinic-budget.ts';
import { publishVerdict, startTrustedNats, type TrustedNats } from './nats-fixture.ts';

/**
 * Threat "a retried send reaches the patient twice" (docs/security.md), its isolation half: the
 * clinic's send log (contract/idempotency-bucket.ts) on a real nats-server in operator mode,
 * with the worker credentials the operator's code issues. A worker reads and writes its own
 * channel's records only: it cannot read, forge, release or purge another channel's, and a
 * clinic backend cannot reach the bucket at all.
 */
describe('send log confinement on nats-server', () => {
  let n: TrustedNats;
  let front: NatsConnection;
  let back: NatsConnection;
  const fingerprint = createHash('sha256').update('recipient and text').digest('hex');

  beforeAll(async () => {
    n = await startTrustedNats();
    // As the worker connects: replies come to the inbox prefix only its user may read.
    const asWorker = async (channel: string) =>
      n.connectAs((await n.issuer.issueWorker(n.clinicA, channel, 600)).creds, {
        inboxPrefix: workerInboxPrefix(n.clinicA, channel),
      });
    front = await asWorker('front');
    back = await asWorker('back');
  }, 60_000);
  afterAll(async () => n?.stop());

  test("a worker keeps its own records and cannot read or touch another channel's", async () => {
    const backLog = await KvSendLog.open(back, n.clinicA, 'back');
    const claim = await backLog.claim('appt-1', fingerprint);
    if (claim.kind !== 'claimed') throw new Error(`expected a claim, got ${claim.kind}`);
    await backLog.complete('appt-1', claim.revision, fingerprint, {
      ok: true,
      messageId: 'M1',
      timestamp: 1,
    });
    expect(await backLog.claim('appt-1', fingerprint)).toEqual({
      kind: 'done',
      outcome: { ok: true, messageId: 'M1', timestamp: 1 },
    });

    const backKey = idempotencyRecordKey('back', 'appt-1');
    const backSubject = `$KV.${idempotencyBucketName(n.clinicA)}.${backKey}`;
    const stream = idempotencyStreamName(n.clinicA);
    const forged = new TextEncoder().encode(JSON.stringify({ state: 'done', fingerprint, at: '' }));
    // Reading: a direct get naming the key, a bare direct get or a stream get naming it in the
    // body, and the same through the other clinic's bucket.
    for (const [subject, body] of [
      [`$JS.API.DIRECT.GET.${stream}.${backSubject}`, ''],
      [`$JS.API.DIRECT.GET.${stream}`, JSON.stringify({ last_by_subj: backSubject })],
      [`$JS.API.STREAM.MSG.GET.${stream}`, JSON.stringify({ last_by_subj: backSubject })],
      [`$JS.API.DIRECT.GET.${idempotencyStreamName(n.clinicB)}.$KV.x.>`, ''],
      // Writing: forging a result, releasing (a delete marker), purging, a rollup.
      [backSubject, forged],
      [`$JS.API.STREAM.PURGE.${stream}`, '{}'],
      [`$JS.API.STREAM.MSG.DELETE.${stream}`, JSON.stringify({ seq: 1 })],
      [`${idempotencySubjectPrefix(n.clinicB, 'front')}.${backKey.split('.')[1]}`, forged],
    ] as const) {
      const data = typeof body === 'string' ? new TextEncoder().encode(body) : body;
      expect(await publishVerdict(front, subject, data)).toMatch(/PERMISSIONS_VIOLATION/);
    }
    // Through the worker's own code path: its log is scoped to its channel, so the same
    // idempotency key is a different record, and front's claim leaves back's record alone.
    const frontLog = await KvSendLog.open(front, n.clinicA, 'front');
    expect(await frontLog.claim('appt-1', 'another message')).toMatchObject({ kind: 'claimed' });
    expect(await backLog.claim('appt-1', fingerprint)).toMatchObject({ kind: 'done' });
  });

  test('a rollup header on its own key, which would purge every channel, is refused by the bucket', async () => {
    const backLog = await KvSendLog.open(back, n.clinicA, 'back');
    expect(await backLog.claim('appt-rollup', fingerprint)).toMatchObject({ kind: 'claimed' });
    const own = `${idempotencySubjectPrefix(n.clinicA, 'front')}.rollup`;
    const rollup = headers();
    rollup.set('Nats-Rollup', 'all');
    await expect(
      front.jetstream().publish(own, new TextEncoder().encode('{}'), { headers: rollup }),
    ).rejects.toThrow(/rollup/i);
    // Back's record survives.
    expect(await backLog.claim('appt-rollup', fingerprint)).toMatchObject({ kind: 'in-flight' });
  });

  test("the clinic's send budget is one bucket the clinic's workers share, and no other clinic's worker reaches it", async () => {
    const quiet = { warn: () => undefined } as unknown as Logger;
    // Burst 2, one token a minute: two sends of the clinic, whichever channel, then none.
    const settings = { ratePerMinute: 1, burst: 2 };
    const frontBudget = await KvClinicBudget.open(front, n.clinicA, settings, quiet);
    const backBudget = await KvClinicBudget.open(back, n.clinicA, settings, quiet);
    expect(await frontBudget.take()).toEqual({ ok: true });
    expect(await backBudget.take()).toEqual({ ok: true });
    const third = await frontBudget.take();
    expect(third.ok).toBe(false);
    expect(!third.ok && third.waitMs).toBeGreaterThan(50_000);
    // A worker of clinic B can neither read nor write clinic A's budget.
    const other = await n.connectAs((await n.issuer.issueWorker(n.clinicB, 'front', 600)).creds, {
      inboxPrefix: workerInboxPrefix(n.clinicB, 'front'),
    });
    try {
      const subject = clinicSendBudgetSubject(n.clinicA);
      for (const [target, body] of [
        [subject, JSON.stringify({ tokens: 1000, at: Date.now() })],
        [`$JS.API.DIRECT.GET.${idempotencyStreamName(n.clinicA)}.${subject}`, ''],
      ] as const) {
        expect(await publishVerdict(other, target, new TextEncoder().encode(body))).toMatch(
          /PERMISSIONS_VIOLATION/,
        );
      }
    } finally {
      await other.close();
    }
    expect((await backBudget.take()).ok).toBe(false);
  });

  test('a clinic backend cannot reach the send log', async () => {
    const backend = await n.connectAs((await n.issuer.issueClinicBackend(n.clinicA, 600)).creds);
    const stream = idempotencyStreamName(n.clinicA);
    for (const subject of [
      `$JS.API.DIRECT.GET.${stream}.${idempotencySubjectPrefix(n.clinicA, 'back')}.x`,
      `$JS.API.STREAM.INFO.${stream}`,
      `${idempotencySubjectPrefix(n.clinicA, 'back')}.x`,
    ]) {
      expect(await publishVerdict(backend, subject, new TextEncoder().encode('{}'))).toMatch(
        /PERMISSIONS_VIOLATION/,
      );
    }
  });
});
