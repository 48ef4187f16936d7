import { PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { channelStatePrefix, parseSequencedName } from '../../../contract/state-layout.ts';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { waCli } from '../../harness/wa-cli.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { applyChannel } from '../operator/fixtures.ts';
import { ChannelWatch } from '../worker/worker-harness.ts';
import { startProduct, type Product } from './product.ts';

/**
 * Point-in-time restore under the real product: the operator, a worker pod (process kubelet)
 * with the unmodified Baileys against the simulator, MinIO with versioning and local-kms. A bad
 * change corrupts the stored session and the worker can no longer start; `wa state restore`
 * suspends the channel through the API server, waits for the worker to let the lease go, puts
 * back the versions of a moment before the change and resumes it: the channel connects as the
 * same linked device, without a QR code.
 */
quietLibsignal();
const stack = testStack();
const clinic = 'clinic-restore';
const PHONE = '15550008201';
let p: Product;

beforeAll(async () => {
  p = await startProduct('e2e-restore');
  const s3 = new S3Client(p.storage.s3Config);
  await s3.send(
    new PutBucketVersioningCommand({
      Bucket: p.storage.bucket,
      VersioningConfiguration: { Status: 'Enabled' },
    }),
  );
  s3.destroy();
}, 60_000);
afterAll(async () => p?.stop());

const tick = () => new Promise((r) => setTimeout(r, 1_100));

test('a corrupted session is restored to a moment before the change: Connected again without a QR', async () => {
  const watch = await ChannelWatch.start(p.nc, clinic, 'front-desk');
  await applyChannel(p.kubectl, stack.workDir, p.ns, 'front-desk', { clinicId: clinic });
  const qr = await watch.waitQr();
  const device = await p.sim.phone(PHONE).scanQr(qr.qr!);
  const connected = async (podOtherThan?: string) => {
    const c = await p.channel('front-desk');
    return c.status?.phase === 'Connected' &&
      c.status.account === device &&
      c.status.workerPod !== podOtherThan
      ? c
      : undefined;
  };
  const first = await eventually('Connected', () => connected(), 60_000);
  // Let the worker's writes after the link (pre-keys, app state) settle into the journal.
  await eventually('the session stored', async () => (await p.storage.store.list(base)).length > 3);
  await tick();
  const before = new Date();
  await tick();
  const qrCount = watch.pairing.length;

  // The bad change: the newest journal slot is overwritten with garbage; the pod is replaced.
  const slots = (await p.storage.store.list(`${base}journal/`)).map((o) => o.key).sort();
  const newest = slots.at(-1)!;
  expect(parseSequencedName(newest.slice(base.length))?.dir).toBe('journal');
  await p.storage.store.put(newest, Buffer.from('not a journal record'));
  await p.kubectl('delete', 'pod', first.status!.workerPod!, '-n', p.ns, '--wait=false');
  const broken = await eventually(
    'the new worker refusing the corrupt state',
    async () => {
      const c = await p.channel('front-desk');
      const stalled = c.status?.conditions?.find((x) => x.type === 'Stalled');
      return stalled?.status === 'True' && stalled.reason === 'StateObjectUnreadable' ? c : undefined;
    },
    60_000,
  );
  expect(broken.status!.message).toContain(newest);

  const restored = await wa('state', 'restore', `${p.ns}/front-desk`, '--to', before.toISOString());
  expect(restored.stderr).toContain('suspended');
  expect(restored.stderr).toContain('the worker has stopped');
  expect(restored.stderr).toContain('resumed');
  expect(restored.stdout).toContain(`restored ${p.ns}/front-desk`);

  const again = await eventually('Connected again after the restore', () => connected(), 90_000);
  expect(again.spec.suspend).toBe(false);
  // The same linked device, no new QR code, and never two sessions at once.
  expect(watch.pairing.length).toBe(qrCount);
  expect(p.sim.phone(PHONE).links()).toEqual([[device, false]]);
  expect(p.sim.connections.maxConcurrent(device)).toBe(1);
  const verified = await wa('state', 'verify', `${p.ns}/front-desk`);
  expect(verified.stdout).toMatch(/^ok .*a linked device/);
}, 240_000);

const base = channelStatePrefix({ prefix: 'wa', clinicId: clinic, channelId: 'front-desk' });
const wa = (...args: string[]) =>
  waCli(
    [],
    {
      AWS_ACCESS_KEY_ID: stack.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: stack.s3.secretAccessKey,
      WA_S3_BUCKET: p.storage.bucket,
      WA_S3_ENDPOINT: stack.s3.endpoint,
      WA_KMS_ENDPOINT: stack.kms.endpoint,
      KUBECONFIG: stack.kube.kubeconfig,
    },
    180_000,
  )(...args);
