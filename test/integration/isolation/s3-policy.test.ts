import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { ObjectStoreError, S3ObjectStore } from '../../../worker/src/auth-store/object-store.ts';
import { repoRoot } from '../../harness/paths.ts';
import { testStack } from '../../harness/stack.ts';
import { openChannel, realStorage } from '../auth-store/fixtures.ts';

/**
 * Threat "a worker reads or overwrites another clinic's stored state" (docs/security.md),
 * enforced by the object store itself: the per-clinic S3 policy exactly as docs/iam.md prints
 * it is given to MinIO as the session policy of temporary credentials (STS AssumeRole), and
 * the worker's own store code runs under them.
 */
const storage = await realStorage('iso-s3');
const suffix = Date.now().toString(36);
const clinicA = `s3-a-${suffix}`;
const clinicB = `s3-b-${suffix}`;

/** The S3 statements of docs/iam.md's "One role per clinic" policy, for this bucket and clinic. */
function documentedClinicPolicy(clinic: string): string {
  const doc = readFileSync(join(repoRoot, 'docs/iam.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## One role per clinic'));
  const json = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
  if (!json) throw new Error('docs/iam.md: no JSON policy under "One role per clinic"');
  const policy = JSON.parse(
    json.replaceAll('clinics-whatsapp-state', storage.bucket).replaceAll('clinic-a', clinic),
  ) as { Version: string; Statement: Array<{ Action: string | string[] }> };
  // MinIO knows S3 actions only; the KMS statement is AWS's to enforce (local-kms has no policies).
  const s3Only = policy.Statement.filter((s) => [s.Action].flat().every((a) => a.startsWith('s3:')));
  expect(s3Only.length).toBeGreaterThanOrEqual(2);
  return JSON.stringify({ ...policy, Statement: s3Only });
}

async function storeConfinedTo(clinic: string): Promise<S3ObjectStore> {
  const { s3 } = testStack();
  const sts = new STSClient({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const { Credentials } = await sts.send(
    new AssumeRoleCommand({
      RoleArn: 'arn:aws:iam::111122223333:role/whatsapp-worker',
      RoleSessionName: `worker-${clinic}`,
      DurationSeconds: 900,
      Policy: documentedClinicPolicy(clinic),
    }),
  );
  sts.destroy();
  return new S3ObjectStore(storage.bucket, {
    ...storage.s3Config,
    credentials: {
      accessKeyId: Credentials!.AccessKeyId!,
      secretAccessKey: Credentials!.SecretAccessKey!,
      sessionToken: Credentials!.SessionToken!,
    },
  });
}

test("the documented per-clinic policy is all a worker's state store needs", async () => {
  const confined = { store: await storeConfinedTo(clinicA), keyProvider: storage.keyProvider };
  // keepJournalMs 0: compaction deletes covered journal slots at once (DeleteObject is exercised).
  const a = await openChannel(confined, clinicA, 'front', 'pod-1', { keepJournalMs: 0 });
  await a.state.keys.set({ session: { s1: Buffer.from('v1') } } as never);
  await a.state.saveCreds();
  await a.state.compact();
  await a.lease.release();
  const b = await openChannel(confined, clinicA, 'front', 'pod-2');
  expect(Buffer.from((await b.state.keys.get('session', ['s1'])).s1!).toString()).toBe('v1');
  await b.lease.release();
  const left = (await storage.store.list(`wa/${clinicA}/front/journal/`)).length;
  expect(left).toBeGreaterThan(0);
});

test("a quarantine (after WhatsApp logged the device out) needs only the clinic's grant", async () => {
  const confined = { store: await storeConfinedTo(clinicA), keyProvider: storage.keyProvider };
  const a = await openChannel(confined, clinicA, 'desk', 'pod-1');
  await a.state.keys.set({ session: { s1: Buffer.from('old device') } } as never);
  await a.state.saveCreds();
  // The worker's own quarantine, under the documented policy: copy, note, delete, start over.
  const where = await a.state.quarantine('logged out by WhatsApp (401)');
  expect(where.startsWith(`wa/${clinicA}/desk/`)).toBe(true);
  expect(await a.state.keys.get('session', ['s1'])).toEqual({});
  await a.lease.release();
  // A worker starting after it, still confined, opens the fresh state beside the copies.
  const b = await openChannel(confined, clinicA, 'desk', 'pod-2');
  expect(b.state.isRegistered()).toBe(false);
  await b.lease.release();
  const copies = (await storage.store.list(where)).map((o) => o.key.slice(where.length));
  expect(copies).toEqual(expect.arrayContaining(['datakey', 'REASON', 'journal/000000000001']));
  // Nothing of the clinic was written outside its own prefix.
  const outside = (await storage.store.list('wa/')).filter((o) => !o.key.startsWith(`wa/${clinicA}/`));
  expect(outside.filter((o) => o.key.includes(clinicA))).toEqual([]);
});

test("clinic A's credentials cannot read, list, overwrite or delete clinic B's state", async () => {
  // Clinic B's channel, stored with B's own access (here the admin's).
  const b = await openChannel(storage, clinicB, 'front', 'pod-b');
  await b.state.keys.set({ session: { s1: Buffer.from('secret of b') } } as never);
  await b.lease.release();
  const datakey = `wa/${clinicB}/front/datakey`;
  const before = await storage.store.get(datakey);
  expect(before).not.toBeNull();

  const a = await storeConfinedTo(clinicA);
  const denied = /access denied/i;
  await expect(a.get(datakey)).rejects.toThrow(ObjectStoreError);
  await expect(a.get(datakey)).rejects.toThrow(denied);
  await expect(a.list(`wa/${clinicB}/`)).rejects.toThrow(denied);
  await expect(a.list('wa/')).rejects.toThrow(denied);
  await expect(a.put(datakey, new Uint8Array([1, 2, 3]))).rejects.toThrow(denied);
  await expect(a.put(`wa/${clinicB}/front/journal/999999999999`, new Uint8Array([1]))).rejects.toThrow(
    denied,
  );
  await expect(a.delete(datakey)).rejects.toThrow(denied);
  // Clinic A's worker cannot even take clinic B's lease: its channel state never opens.
  await expect(
    openChannel({ store: a, keyProvider: storage.keyProvider }, clinicB, 'front', 'pod-x'),
  ).rejects.toThrow(denied);

  const after = await storage.store.get(datakey);
  expect(Buffer.from(after!.body).equals(Buffer.from(before!.body))).toBe(true);
  expect((await storage.store.list(`wa/${clinicB}/front/journal/`)).map((o) => o.key)).not.toContain(
    `wa/${clinicB}/front/journal/999999999999`,
  );
});
