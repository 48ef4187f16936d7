import {
  CreateBucketCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { freePort } from '../../harness/ports.ts';
import { testStack } from '../../harness/stack.ts';
import { channelStatePrefix } from '../../../contract/state-layout.ts';
import { S3ChannelStateEraser } from '../../../operator/src/storage/state-eraser.ts';
import { S3ObjectStore } from '../../../worker/src/auth-store/object-store.ts';
import { openChannel, realStorage } from '../auth-store/fixtures.ts';

/** The S3 eraser of the Logout policy, against real MinIO. */
const { s3 } = testStack();
const credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey };
const admin = new S3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials });
process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
const eraser = new S3ChannelStateEraser({ region: s3.region, endpoint: s3.endpoint });

async function bucketWith(keys: string[], versioned = false): Promise<string> {
  const bucket = `erase-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  if (versioned)
    await admin.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
  for (const key of keys) await admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
  return bucket;
}
const versionsLeft = async (bucket: string, prefix?: string) => {
  const page = await admin.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix }));
  return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => v.Key!).sort();
};
const others = [
  'wa/clinic-a/front-desk-2/journal/1',
  'wa/clinic-a/front/lease',
  'wa/clinic-b/front-desk/lease',
  'other/clinic-a/front-desk/lease',
];
const location = (bucket: string) => ({
  bucket,
  prefix: 'wa',
  clinicId: 'clinic-a',
  channelId: 'front-desk',
});

afterAll(() => {
  admin.destroy();
  eraser.destroy();
});

test('the prefix is <prefix>/<clinic>/<channel>/, with the trailing slash that keeps neighbours apart', () => {
  expect(channelStatePrefix({ prefix: 'wa', clinicId: 'c', channelId: 'x' })).toBe('wa/c/x/');
  expect(channelStatePrefix({ prefix: '/tenants/wa/', clinicId: 'c', channelId: 'x' })).toBe(
    'tenants/wa/c/x/',
  );
});

test('erases every object of the channel and nothing of any other channel, clinic or prefix', async () => {
  const mine = Array.from(
    { length: 1_203 },
    (_, i) => `wa/clinic-a/front-desk/journal/${String(i).padStart(6, '0')}`,
  );
  const bucket = await bucketWith([...mine, 'wa/clinic-a/front-desk/lease', ...others]);
  expect(await eraser.erase(location(bucket))).toBe(1_204); // more than one 1,000-key batch
  expect(await versionsLeft(bucket)).toEqual([...others].sort());
  expect(await eraser.erase(location(bucket))).toBe(0); // idempotent
}, 120_000);

test('on a versioned bucket no old version or delete marker of the channel stays behind', async () => {
  const bucket = await bucketWith(
    ['wa/clinic-a/front-desk/lease', 'wa/clinic-a/front-desk/lease', ...others],
    true,
  );
  await admin.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'wa/clinic-a/front-desk/datakey', Body: 'y' }),
  );
  expect(await eraser.erase(location(bucket))).toBe(3);
  expect(await versionsLeft(bucket)).toEqual([...others].sort());
});

test('a missing bucket or an unreachable S3 is an error, never a silent success', async () => {
  await expect(eraser.erase(location('no-such-bucket-here'))).rejects.toThrow(/bucket/i);
  const down = new S3ChannelStateEraser({
    region: s3.region,
    endpoint: `http://127.0.0.1:${await freePort()}`,
    requestTimeoutMs: 1_000,
  });
  await expect(down.erase(location('any'))).rejects.toThrow();
  down.destroy();
});

test("a worker's quarantined copies and every version of the channel go with the erase (versioned bucket)", async () => {
  const keys = await realStorage('erase-quarantine');
  const bucket = await bucketWith(others, true);
  const store = new S3ObjectStore(bucket, keys.s3Config);
  const worker = { store, keyProvider: keys.keyProvider };
  // A linked channel, compacted (journal slots deleted: noncurrent versions and delete markers),
  // then quarantined by its worker (the state deleted and started over) and written again.
  const { state, lease } = await openChannel(worker, 'clinic-a', 'front-desk', 'pod-1', { keepJournalMs: 0 });
  await state.keys.set({ session: { s1: Buffer.from('old device') } } as never);
  state.creds.me = { id: '5511987654321:1@s.whatsapp.net', name: 'Front desk' };
  await state.saveCreds();
  await state.compact();
  const quarantined = await state.quarantine('logged out by WhatsApp (401)');
  await state.keys.set({ session: { s2: Buffer.from('new device') } } as never);
  await lease.release();
  const prefix = channelStatePrefix(location(bucket));
  const before = await versionsLeft(bucket, prefix);
  expect(before.filter((k) => k.startsWith(quarantined)).length).toBeGreaterThan(2);
  expect(before.length).toBeGreaterThan(new Set(before).size); // older versions exist

  expect(await eraser.erase(location(bucket))).toBe(before.length);
  expect(await versionsLeft(bucket, prefix)).toEqual([]);
  expect(await versionsLeft(bucket)).toEqual([...others].sort());
  store.destroy();
});
