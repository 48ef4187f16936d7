import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateKeyCommand, DescribeKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { channelStatePrefix, mediaFolderName } from '../../../contract/state-layout.ts';
import { LocalDiskObjectStore } from '../../../worker/src/auth-store/local-disk-object-store.ts';
import { SealedObjects } from '../../../worker/src/auth-store/sealed-objects.ts';
import { readStoredState } from '../../../worker/src/auth-store/state-reader.ts';
import { adminKubectl } from '../../harness/kubectl.ts';
import { testStack } from '../../harness/stack.ts';
import { fails, waCli } from '../../harness/wa-cli.ts';
import { openChannel, realStorage } from '../auth-store/fixtures.ts';
import { applyChannel, prepareNamespace } from '../operator/fixtures.ts';

/**
 * `wa state` run as a platform engineer runs it (a child process with S3, KMS and kubeconfig
 * access) against the real MinIO with versioning, local-kms and the API server. The channels'
 * state is written by the worker's own ChannelState; no worker process or operator runs here
 * (test/integration/e2e/state-*.test.ts restore and re-wrap under running workers).
 */
const stack = testStack();
const kubectl = adminKubectl();
const storage = await realStorage('state-cli');
const s3 = new S3Client(storage.s3Config);
await s3.send(
  new PutBucketVersioningCommand({ Bucket: storage.bucket, VersioningConfiguration: { Status: 'Enabled' } }),
);
const ns = `state-cli-${Date.now().toString(36)}`;
const clinic = 'clinic-s';
const account = { id: '15550004001:1@s.whatsapp.net', name: 'Front desk' };
await prepareNamespace(kubectl, ns);

const wa = waCli(
  [],
  {
    AWS_ACCESS_KEY_ID: stack.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: stack.s3.secretAccessKey,
    WA_S3_BUCKET: storage.bucket,
    WA_S3_ENDPOINT: stack.s3.endpoint,
    WA_KMS_ENDPOINT: stack.kms.endpoint,
    KUBECONFIG: stack.kube.kubeconfig,
  },
  120_000,
);
const base = (channel: string) => channelStatePrefix({ prefix: 'wa', clinicId: clinic, channelId: channel });
const tick = () => new Promise((r) => setTimeout(r, 1_100));

/** A linked channel written by the worker's ChannelState, with a channel resource naming it. */
async function linkedChannel(channel: string, sessions: number) {
  await applyChannel(kubectl, stack.workDir, ns, channel, { clinicId: clinic });
  const opened = await openChannel(storage, clinic, channel, `pod-${channel}`, { keepJournalMs: 0 });
  opened.state.creds.me = account;
  await opened.state.saveCreds();
  for (let i = 1; i <= sessions; i++)
    await opened.state.keys.set({ session: { [`s${i}`]: Buffer.from(`session ${i}`) } } as never);
  return opened;
}

/** The state a worker would load from `store`: which sessions, and whether linked. */
async function loadedFrom(store: LocalDiskObjectStore | typeof storage.store, channel: string) {
  const record = JSON.parse(Buffer.from((await store.get(`${base(channel)}datakey`))!.body).toString()) as {
    wrapped: string;
  };
  const dataKey = await storage.keyProvider.unwrap(Buffer.from(record.wrapped, 'base64'), {
    clinic,
    channel,
  });
  const sealed = new SealedObjects({ store, dataKey, clinic, channel, base: base(channel) });
  const names = (await store.list(base(channel)))
    .map((o) => o.key.slice(base(channel).length))
    .filter((n) => n !== 'lease');
  const state = await readStoredState(sealed, names);
  return {
    sessions: Object.keys(state.keys.session ?? {}).sort(),
    linked: state.creds?.me?.id === account.id,
  };
}

test('verify checks every object of a channel and of a clinic, and names the one that is corrupt', async () => {
  const front = await linkedChannel('verify-front', 4);
  await front.state.compact();
  await front.state.keys.set({ session: { late: Buffer.from('after the snapshot') } } as never);
  // An attachment, sealed under the same data key as the worker's media store does: not session
  // state, but checked too.
  const objects = front.state.sealedObjects();
  const piece = `${mediaFolderName('in:ABC')}part/0`;
  await storage.store.put(objects.key(piece), objects.seal(piece, Buffer.from('a photo')));
  await front.lease.release();
  const back = await linkedChannel('verify-back', 2);
  await back.lease.release();

  const ok = await wa('state', 'verify', `${ns}/verify-front`);
  expect(ok.stdout).toMatch(new RegExp(`^ok  ${ns}/verify-front .*: \\d+ objects, snapshot at slot \\d+`));
  expect(ok.stdout).toContain('a linked device');
  expect(ok.stdout).toContain(`data key under arn:aws:kms:`);

  // One journal slot corrupted (a byte flipped), as a bad disk or a bad tool would.
  const slot = `${base('verify-back')}journal/000000000002`;
  const stored = await storage.store.get(slot);
  const body = Buffer.from(stored!.body);
  body[body.length - 20]! ^= 0xff;
  await storage.store.put(slot, body);

  const bad = await fails(wa('state', 'verify', '--clinic', clinic));
  expect(bad.code).toBe(1);
  const out = (bad as unknown as { stdout: string }).stdout;
  expect(out).toMatch(/^ok {2}s3:\/\/.*\/verify-front\//m);
  expect(out).toMatch(/^BAD s3:\/\/.*\/verify-back\//m);
  expect(out).toContain(`    ${slot}: authentication failed`);
  // The only object named is the corrupt one.
  expect(out.match(/^ {4}\S+:/gm)).toEqual([`    ${slot}:`]);
  expect(bad.stderr).toContain('1 bad objects');
}, 120_000);

test('a backup taken while the worker writes and compacts is one state: a journal prefix with no gap', async () => {
  const writer = await linkedChannel('backup-live', 1);
  let written = 1;
  let writing = true;
  // Compaction every 10 records, and no journal kept past a snapshot: slots and snapshots keep
  // vanishing while the copy is taken (a worker compacts every 500 and keeps slots 30 s).
  const loop = (async () => {
    while (writing) {
      written++;
      await writer.state.keys.set({
        session: { [`s${written}`]: Buffer.from(`session ${written}`) },
      } as never);
      if (written % 10 === 0) await writer.state.compact();
    }
  })();
  const dir = join(await mkdtemp(join(tmpdir(), 'wa-backup-')), 'copy');
  const backup = await wa('state', 'backup', `${ns}/backup-live`, '--to', dir);
  writing = false;
  await loop;
  await writer.lease.release();

  expect(backup.stdout).toMatch(/backed up .* verified/);
  const manifest = JSON.parse(await readFile(join(dir, 'backup.json'), 'utf8')) as { lastSeq: number };
  const copy = await loadedFrom(new LocalDiskObjectStore(dir), 'backup-live');
  const n = copy.sessions.length;
  // Sessions s1…sn, none missing: what the worker had at one moment; it went on writing after.
  expect(copy.sessions).toEqual(Array.from({ length: n }, (_, i) => `s${i + 1}`).sort());
  expect(n).toBeGreaterThan(0);
  expect(written).toBeGreaterThan(n);
  expect(copy.linked).toBe(true);
  expect(manifest.lastSeq).toBeGreaterThan(0);
}, 120_000);

test('restore --to puts back the state of a moment (after a quarantine started over), and refuses one whose versions are gone', async () => {
  const channel = 'restore-pit';
  const { state, lease } = await linkedChannel(channel, 3);
  await state.compact();
  await state.keys.set({ session: { s4: Buffer.from('after the snapshot') } } as never);
  await tick();
  const before = new Date();
  await tick();
  // The bad change: the state is set aside and started over (as after a 401): no link, no sessions.
  await state.quarantine('logged out by mistake');
  await state.keys.set({ session: { fresh: Buffer.from('new state') } } as never);
  await lease.release();
  expect(await loadedFrom(storage.store, channel)).toEqual({ sessions: ['fresh'], linked: false });

  const restored = await wa('state', 'restore', `${ns}/${channel}`, '--to', before.toISOString());
  expect(restored.stdout).toContain(`restored ${ns}/${channel}`);
  expect(restored.stderr).toContain('suspended');
  expect(restored.stderr).toContain('resumed');
  expect(await loadedFrom(storage.store, channel)).toEqual({
    sessions: ['s1', 's2', 's3', 's4'],
    linked: true,
  });
  const resource = JSON.parse((await kubectl('get', 'wac', channel, '-n', ns, '-o', 'json')).stdout);
  expect(resource.spec.suspend).toBe(false);
  // A worker opens it with its own code and goes on from it (the lease's epoch only rises).
  const reopened = await openChannel(storage, clinic, channel, 'pod-after-restore');
  expect(reopened.state.isRegistered()).toBe(true);
  await reopened.state.keys.set({ session: { s5: Buffer.from('after the restore') } } as never);
  await reopened.lease.release();

  // A version of that moment expires (a lifecycle rule on noncurrent versions): journal slot 6
  // (s4) as it was then is gone. The rest of that moment still loads, as the state before s4: a
  // restore would mix it with newer versions. Refused, and nothing is touched.
  const slot = `${base(channel)}journal/000000000006`;
  const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: storage.bucket, Prefix: slot }));
  const then = (versions.Versions ?? []).filter((v) => v.Key === slot && v.LastModified! <= before);
  expect(then).toHaveLength(1);
  await s3.send(
    new DeleteObjectCommand({ Bucket: storage.bucket, Key: slot, VersionId: then[0]!.VersionId }),
  );
  const listed = async () => (await storage.store.list(base(channel))).map((o) => o.key).sort();
  const objectsBefore = await listed();
  const refused = await fails(wa('state', 'restore', `${ns}/${channel}`, '--to', before.toISOString()));
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('refusing to restore');
  expect(refused.stderr).toContain(`${slot}: its version of that moment is gone`);
  expect(refused.stderr).toContain('Nothing was changed');
  expect(refused.stderr).not.toContain('suspended');
  expect(await listed()).toEqual(objectsBefore);
  expect(await loadedFrom(storage.store, channel)).toEqual({
    sessions: ['s1', 's2', 's3', 's4', 's5'],
    linked: true,
  });
}, 120_000);

test('restore --from a backup undoes a bad change; a backup of another channel is refused', async () => {
  const channel = 'restore-backup';
  const { state, lease } = await linkedChannel(channel, 2);
  await lease.release();
  const dir = join(await mkdtemp(join(tmpdir(), 'wa-backup-')), 'copy');
  await wa('state', 'backup', `${ns}/${channel}`, '--to', dir);
  // The bad change: a tool deletes a journal slot.
  await storage.store.delete(`${base(channel)}journal/000000000002`);
  expect(state).toBeDefined();
  const broken = await fails(wa('state', 'verify', `${ns}/${channel}`));
  expect((broken as unknown as { stdout: string }).stdout).toContain('journal slot journal/000000000002');

  const other = await fails(wa('state', 'restore', `${ns}/verify-front`, '--from', dir));
  expect(other.code).toBe(2);
  expect(other.stderr).toContain(`holds ${base(channel)}`);

  await wa('state', 'restore', `${ns}/${channel}`, '--from', dir);
  expect(await loadedFrom(storage.store, channel)).toEqual({ sessions: ['s1', 's2'], linked: true });
  const ok = await wa('state', 'verify', `${ns}/${channel}`);
  expect(ok.stdout).toMatch(/^ok /);
}, 120_000);

test('rewrap moves the live and the quarantined data key records to a new key: the old one disabled, both still open', async () => {
  const channel = 'rewrap-one';
  const { state, lease } = await linkedChannel(channel, 2);
  await state.quarantine('set aside before the rotation');
  await state.keys.set({ session: { fresh: Buffer.from('after the quarantine') } } as never);
  await lease.release();
  const kms = new KMSClient(storage.kmsConfig);
  const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'rotation target' }));
  const oldArn = (await kms.send(new DescribeKeyCommand({ KeyId: storage.keyId }))).KeyMetadata!.Arn!;

  const moved = await wa('state', 'rewrap', `${ns}/${channel}`, '--to-key', KeyMetadata!.KeyId!);
  // The live record and the quarantined copy's.
  expect(moved.stdout).toMatch(
    new RegExp(`^ok  ${ns}/${channel} .*: 2 re-wrapped, 0 already under ${KeyMetadata!.Arn}`, 'm'),
  );
  // The versions before the re-wrap are still under the old key: reported, not counted as left.
  expect(moved.stdout).toMatch(
    new RegExp(`history: ${base(channel)}datakey version \\S+ of \\S+ is under ${oldArn}`),
  );

  await kms.send(new DisableKeyCommand({ KeyId: storage.keyId }));
  // The worker's own load opens the state with the old key disabled, and so does verify, copies included.
  const reopened = await openChannel(storage, clinic, channel, 'pod-after-rewrap');
  expect(Buffer.from((await reopened.state.keys.get('session', ['fresh'])).fresh!).toString()).toBe(
    'after the quarantine',
  );
  await reopened.lease.release();
  const verified = await wa('state', 'verify', `${ns}/${channel}`);
  expect(verified.stdout).toMatch(
    new RegExp(`^ok .*data key under ${KeyMetadata!.Arn}; 1 quarantined copies`),
  );
  const again = await wa('state', 'rewrap', `${ns}/${channel}`, '--to-key', KeyMetadata!.KeyId!);
  expect(again.stdout).toContain(': 0 re-wrapped, 2 already');
  kms.destroy();
}, 120_000);

afterAll(() => s3.destroy());
