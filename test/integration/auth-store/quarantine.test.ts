import { channelStatePrefix, QUARANTINE_REASON_OBJECT } from '../../../contract/state-layout.ts';
import { openChannel, realStorage } from './fixtures.ts';

/**
 * Quarantine on real S3 (MinIO) and KMS (local-kms): the copies are set aside inside the
 * channel's own prefix (contract/state-layout.ts), and nothing that reads the live state, at
 * once or after a restart, takes them for state.
 */
const storage = await realStorage('quarantine');
const clinic = 'clinic-q';
const account = { id: '5511987654321:1@s.whatsapp.net', name: 'Front desk' };
const keysUnder = async (prefix: string) => (await storage.store.list(prefix)).map((o) => o.key).sort();

/** A linked channel with a session key, compacted, so it has a snapshot and journal slots. */
async function linkedChannel(channel: string, holder: string) {
  const opened = await openChannel(storage, clinic, channel, holder, { keepJournalMs: 0 });
  await opened.state.keys.set({ session: { s1: Buffer.from('session of the old device') } } as never);
  opened.state.creds.me = account;
  await opened.state.saveCreds();
  await opened.state.compact();
  await opened.state.keys.set({ session: { s2: Buffer.from('after the snapshot') } } as never);
  return opened;
}

test("a quarantine sets the state aside inside the channel's prefix, and the channel starts fresh there", async () => {
  const { state, lease } = await linkedChannel('front', 'pod-1');
  const base = channelStatePrefix({ prefix: 'wa', clinicId: clinic, channelId: 'front' });
  const liveBefore = (await keysUnder(base)).filter((k) => k !== `${base}lease`);

  const where = await state.quarantine('logged out by WhatsApp (401)');

  expect(where.startsWith(`${base}quarantine/`)).toBe(true);
  const copies = await keysUnder(where);
  expect(copies).toEqual(
    [
      ...liveBefore.map((k) => `${where}${k.slice(base.length)}`),
      `${where}${QUARANTINE_REASON_OBJECT}`,
    ].sort(),
  );
  const reason = await storage.store.get(`${where}${QUARANTINE_REASON_OBJECT}`);
  expect(Buffer.from(reason!.body).toString()).toBe('logged out by WhatsApp (401)\n');
  // Started over: new creds, no keys of the old device.
  expect(state.isRegistered()).toBe(false);
  expect(await state.keys.get('session', ['s1', 's2'])).toEqual({});

  // Compaction of the new state leaves the copies alone.
  await state.keys.set({ session: { s3: Buffer.from('new device') } } as never);
  await state.compact();
  expect(await keysUnder(where)).toEqual(copies);
  await lease.release();

  // A worker starting after the quarantine reads the new state, not the copies, and does not
  // refuse to start because objects exist beside a missing data key.
  const next = await openChannel(storage, clinic, 'front', 'pod-2');
  expect(next.state.isRegistered()).toBe(false);
  expect(await next.state.keys.get('session', ['s1', 's2'])).toEqual({});
  expect(Buffer.from((await next.state.keys.get('session', ['s3'])).s3!).toString()).toBe('new device');

  // A second quarantine copies the live state only, not the first quarantine.
  const second = await next.state.quarantine('logged out again');
  expect(second).not.toBe(where);
  expect((await keysUnder(second)).filter((k) => k.slice(second.length).includes('quarantine'))).toEqual([]);
  expect(await keysUnder(where)).toEqual(copies);

  // The worker's `erase` action starts over without the live state and keeps the copies.
  await next.state.erase();
  expect(await keysUnder(where)).toEqual(copies);
  await next.lease.release();
});

test('quarantined copies stay decryptable: put back where they were, they are the old session', async () => {
  const { state, lease } = await linkedChannel('lab', 'pod-1');
  const base = channelStatePrefix({ prefix: 'wa', clinicId: clinic, channelId: 'lab' });
  const where = await state.quarantine('logged out by WhatsApp (401)');
  await lease.release();
  // A person restores it: the fresh state goes, the copies go back under their own names.
  for (const key of await keysUnder(base))
    if (!key.startsWith(`${base}quarantine/`) && key !== `${base}lease`) await storage.store.delete(key);
  for (const key of await keysUnder(where)) {
    const name = key.slice(where.length);
    if (name === QUARANTINE_REASON_OBJECT) continue;
    await storage.store.put(`${base}${name}`, (await storage.store.get(key))!.body);
  }
  // This is why every erasure must remove the copies too (docs/security.md, T22).
  const restored = await openChannel(storage, clinic, 'lab', 'pod-2');
  expect(restored.state.creds.me?.id).toBe(account.id);
  const keys = await restored.state.keys.get('session', ['s1', 's2']);
  expect(Buffer.from(keys.s1!).toString()).toBe('session of the old device');
  expect(Buffer.from(keys.s2!).toString()).toBe('after the snapshot');
  await restored.lease.release();
});
