import type { V1Secret } from '@kubernetes/client-node';
import { ErrorCode, NatsError, type NatsConnection } from 'nats';
import type { WhatsAppChannel } from '../../../contract/index.ts';
import { bootstrapNatsTrust } from '../../../operator/src/nats/credentials-bootstrap.ts';
import { NatsCredentialIssuer } from '../../../operator/src/nats/credentials-issuer.ts';
import { CredentialProvisioner } from '../../../operator/src/nats/credentials-provisioner.ts';
import type { AuditTrail } from '../../../contract/index.ts';

/**
 * When the operator writes NATS credentials (docs/security.md, T16): the pure part of the
 * provisioner, with a fake clock, a recording Secret writer and fake NATS answers. Its work on
 * the real API server and nats-server is in test/integration/isolation/credentials.test.ts.
 */
const TTL_S = 3_000;
const trust = await bootstrapNatsTrust();

function setUp() {
  let now = Date.parse('2026-11-29T00:00:00Z');
  const written: string[] = [];
  const audited: string[] = [];
  const pushes: string[] = [];
  let natsUp = true;
  const system = {
    request: async (subject: string) => {
      if (!natsUp) throw new Error('CONNECTION_REFUSED');
      pushes.push(subject);
      return { data: new TextEncoder().encode('{"data":{"code":200}}') };
    },
  } as unknown as NatsConnection;
  // As nats.js reports a JetStream API 404 (stream or consumer not found).
  const notFound = async () => {
    throw Object.assign(new NatsError('stream not found', ErrorCode.JetStream404NoMessages), {
      api_error: { code: 404, err_code: 10059, description: 'stream not found' },
    });
  };
  const platform = {
    jetstreamManager: async () => ({
      streams: { info: notFound, add: async () => ({}) },
      consumers: { info: notFound, add: async () => ({}) },
    }),
  } as unknown as NatsConnection;
  const provisioner = new CredentialProvisioner({
    issuer: new NatsCredentialIssuer(trust.issuerKeys),
    system: async () => system,
    platform: () => platform,
    secrets: { apply: async (s: V1Secret) => void written.push(s.metadata!.name!) },
    workerSecret: { name: 'wa-nats-{clinicId}-{channelId}', key: 'creds' },
    ttlSeconds: TTL_S,
    clinicStreams: { retentionDays: 14, clinicRetentionDays: {}, idempotencyWindowHours: 24 },
    audit: {
      record: (e: { details?: { kind?: string } }) => audited.push(String(e.details?.kind)),
    } as unknown as AuditTrail,
    now: () => new Date(now),
  });
  return {
    provisioner,
    written,
    audited,
    pushes,
    advance: (ms: number) => (now += ms),
    setNats: (up: boolean) => (natsUp = up),
  };
}

const channel = (uid: string): WhatsAppChannel => ({
  apiVersion: 'whatsapp.clinic.dev/v1alpha1',
  kind: 'WhatsAppChannel',
  metadata: { name: 'front-desk', namespace: 'clinic-a', uid },
  spec: { clinicId: 'clinic-a', channelId: 'front-desk' },
});

test('credentials are issued once, then renewed when a third of their lifetime is left, and the reconciler is told when', async () => {
  const t = setUp();
  const renewIn = await t.provisioner.ensure(channel('u-1'));
  expect(t.written).toEqual(['wa-nats-clinic-a-front-desk', 'wa-nats-clinic-clinic-a']);
  expect(t.audited).toEqual(['worker', 'clinic-backend']);
  expect(renewIn).toBe((TTL_S * 1000 * 2) / 3);

  t.advance(renewIn - 1);
  expect(await t.provisioner.ensure(channel('u-1'))).toBe(1);
  expect(t.written).toHaveLength(2);

  t.advance(1);
  await t.provisioner.ensure(channel('u-1'));
  expect(t.written).toEqual([
    'wa-nats-clinic-a-front-desk',
    'wa-nats-clinic-clinic-a',
    'wa-nats-clinic-a-front-desk',
    'wa-nats-clinic-clinic-a',
  ]);
  // The clinic's account is pushed once per process, not per renewal.
  expect(t.pushes).toEqual(['$SYS.REQ.CLAIMS.UPDATE']);
});

test('a channel deleted and created again under its name gets its worker credential at once', async () => {
  const t = setUp();
  await t.provisioner.ensure(channel('u-1'));
  await t.provisioner.ensure(channel('u-2'));
  // The old Secret went with the old channel (owner reference): a new one is written for the new uid.
  expect(t.written).toEqual([
    'wa-nats-clinic-a-front-desk',
    'wa-nats-clinic-clinic-a',
    'wa-nats-clinic-a-front-desk',
  ]);
});

test('with NATS away the Secrets are still written; the clinic account is pushed once NATS is back', async () => {
  const t = setUp();
  t.setNats(false);
  await expect(t.provisioner.ensure(channel('u-1'))).rejects.toThrow('CONNECTION_REFUSED');
  expect(t.written).toEqual(['wa-nats-clinic-a-front-desk', 'wa-nats-clinic-clinic-a']);
  t.setNats(true);
  await t.provisioner.ensure(channel('u-1'));
  expect(t.pushes).toEqual(['$SYS.REQ.CLAIMS.UPDATE']);
  expect(t.written).toHaveLength(2);
});

test("a deleted channel's credential is forgotten: nothing of it stays in the operator's memory", async () => {
  const t = setUp();
  await t.provisioner.ensure(channel('u-1'));
  t.provisioner.forget(channel('u-1'));
  // Were it remembered, this would write nothing (its credential is far from renewal).
  await t.provisioner.ensure(channel('u-1'));
  expect(t.written).toEqual([
    'wa-nats-clinic-a-front-desk',
    'wa-nats-clinic-clinic-a',
    'wa-nats-clinic-a-front-desk',
  ]);
});
