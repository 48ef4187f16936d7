import { CreateKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { eventually } from '../../harness/eventually.ts';
import { testStack } from '../../harness/stack.ts';
import { waCli } from '../../harness/wa-cli.ts';
import { quietLibsignal } from '../../../wa-sim/testing/baileys-client.ts';
import { applyChannel } from '../operator/fixtures.ts';
import { ChannelWatch } from '../worker/worker-harness.ts';
import { startProduct, type Product } from './product.ts';

/**
 * KMS key rotation under the real product: two linked channels of a clinic, their workers running.
 * `wa state rewrap --clinic` moves every data key to a new KMS key while they run (no pod is
 * replaced); the operator is then moved to the new key (as `helm upgrade --set kms.keyId=…` does)
 * and the workers restart under it; the old key is disabled, and every channel still connects,
 * again after another restart, as the same linked device without a QR code.
 */
quietLibsignal();
const stack = testStack();
const clinic = 'clinic-rewrap';
const CHANNELS = [
  { name: 'front-desk', phone: '15550008301' },
  { name: 'reception', phone: '15550008302' },
];
let p: Product;
let kms: KMSClient;

beforeAll(async () => {
  p = await startProduct('e2e-rewrap');
  kms = new KMSClient(p.storage.kmsConfig);
}, 60_000);
afterAll(async () => {
  kms?.destroy();
  await p?.stop();
});

test('rewrap → workers restart under the new key → the old key disabled, every channel still connects', async () => {
  const devices = new Map<string, string>();
  const watches = new Map<string, ChannelWatch>();
  for (const { name, phone } of CHANNELS) {
    const watch = await ChannelWatch.start(p.nc, clinic, name);
    watches.set(name, watch);
    await applyChannel(p.kubectl, stack.workDir, p.ns, name, { clinicId: clinic });
    devices.set(name, await p.sim.phone(phone).scanQr((await watch.waitQr()).qr!));
  }
  /** Each channel's worker (`<pod>_<uid>`, from its own status events) once all are Connected. */
  const allConnected = (what: string, notBy: Set<string> = new Set()) =>
    eventually(
      what,
      async () => {
        const workers = new Map<string, string>();
        for (const { name } of CHANNELS) {
          const last = watches.get(name)!.status.at(-1);
          if (last?.phase !== 'Connected' || last.account !== devices.get(name) || notBy.has(last.worker))
            return undefined;
          workers.set(name, last.worker);
        }
        return workers;
      },
      90_000,
    );
  const podUids = async () => new Set((await p.pods()).map((pod) => pod.metadata.uid));
  await allConnected('both channels Connected');
  const uidsBefore = await podUids();
  const qrCounts = () => CHANNELS.map(({ name }) => watches.get(name)!.pairing.length);
  const qrsBefore = qrCounts();

  const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'the new key' }));
  const newKey = KeyMetadata!.KeyId!;
  const rewrap = await wa('state', 'rewrap', '--clinic', clinic, '--to-key', newKey);
  for (const { name } of CHANNELS)
    expect(rewrap.stdout).toMatch(new RegExp(`^ok  s3://.*/${clinic}/${name}/: 1 re-wrapped`, 'm'));
  // No downtime: the same pods, still connected.
  expect(await podUids()).toEqual(uidsBefore);
  const running = await allConnected('both still Connected on their pods');

  // The operator moves to the new key: every worker pod is replaced, under the new key.
  await p.restartOperator({ WA_KMS_KEY_ID: newKey });
  const restarted = await allConnected('both Connected on new pods', new Set(running.values()));
  for (const pod of (await p.pods()) as unknown as {
    spec: { containers: { env?: { name: string; value?: string }[] }[] };
  }[])
    expect(pod.spec.containers[0]!.env!.find((e) => e.name === 'WA_KMS_KEY_ID')?.value).toBe(newKey);

  // The old key is disabled: the next starts need only the new one.
  await kms.send(new DisableKeyCommand({ KeyId: p.storage.keyId }));
  for (const worker of restarted.values())
    await p.kubectl('delete', 'pod', worker.split('_')[0]!, '-n', p.ns, '--wait=false');
  await allConnected('both Connected again with the old key disabled', new Set(restarted.values()));
  expect(qrCounts()).toEqual(qrsBefore);
  for (const { name, phone } of CHANNELS) {
    expect(p.sim.phone(phone).links()).toEqual([[devices.get(name), false]]);
    expect(p.sim.connections.maxConcurrent(devices.get(name)!)).toBe(1);
  }
  const verified = await wa('state', 'verify', '--clinic', clinic);
  expect(verified.stdout.match(/^ok /gm)).toHaveLength(CHANNELS.length);
  expect(verified.stdout).toContain(`data key under ${KeyMetadata!.Arn}`);
}, 360_000);

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
