import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { applyChannel } from '../operator/fixtures.ts';
import { ChannelWatch } from '../worker/worker-harness.ts';
import { startProduct, type Product } from './product.ts';

/**
 * Invariant 5: one failing channel never stops another. Two channels of one clinic share the
 * namespace, the bucket, the operator and NATS; one has a KMS key that does not exist, so its
 * worker fails at start, again and again. The other pairs, connects and takes messages.
 */
quietLibsignal();
const stack = testStack();
const clinic = 'clinic-neighbours';
let p: Product;

beforeAll(async () => {
  p = await startProduct('e2e-fail');
}, 60_000);
afterAll(async () => p?.stop());

test('a crash-looping channel shows CrashLoopBackOff with its reason while its neighbour pairs and works', async () => {
  const broken = await ChannelWatch.start(p.nc, clinic, 'broken');
  const healthy = await ChannelWatch.start(p.nc, clinic, 'healthy');
  await applyChannel(p.kubectl, stack.workDir, p.ns, 'broken', {
    clinicId: clinic,
    storage: { kmsKeyId: 'alias/does-not-exist' },
  });
  // The broken worker reports why it fails, and exits; the kubelet restarts it.
  const failure = await broken.waitStatus('the broken worker reporting Error', (s) => s.phase === 'Error');
  expect(failure.reason).toBe('KmsKeyUnavailable');
  expect(failure.message).toContain('under key alias/does-not-exist');
  expect(failure.message).toContain('is not found');

  await applyChannel(p.kubectl, stack.workDir, p.ns, 'healthy', { clinicId: clinic });
  const qr = await healthy.waitQr();
  const device = await p.sim.phone('15550008101').scanQr(qr.qr!);
  await eventually(
    'the healthy channel Connected',
    async () => {
      const c = await p.channel('healthy');
      return c.status?.phase === 'Connected' && c.status.account === device;
    },
    60_000,
  );
  const patient = p.sim.contact('15550008102');
  const sent = await patient.sendText(p.sim.phone('15550008101').jid, 'still working next door?');
  await eventually('the message acknowledged by the healthy worker', async () =>
    p.sim.phone('15550008101').devices()[0]!.acknowledged >= 1 ? true : undefined,
  );
  expect(sent.id).toBeTruthy();

  // Meanwhile the broken one crash-loops, visibly, and never got further than Error.
  const wac = await eventually(
    'CrashLoopBackOff on the broken channel',
    async () => {
      const c = await p.channel('broken');
      const running = c.status?.conditions?.find((x) => x.type === 'WorkerRunning');
      return running?.reason === 'CrashLoopBackOff' ? c : undefined;
    },
    60_000,
  );
  expect(wac.status!.phase).toBe('Error');
  expect(wac.status!.conditions!.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False' });
  expect(broken.pairing).toEqual([]);
  expect(broken.phases()).not.toContain('Connected');
  // And the healthy one is still Connected and Ready.
  const ok = await p.channel('healthy');
  expect(ok.status!.phase).toBe('Connected');
  expect(ok.status!.conditions!.find((x) => x.type === 'Ready')).toMatchObject({ status: 'True' });
});
