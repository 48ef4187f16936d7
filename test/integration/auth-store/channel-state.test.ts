import { proto } from '@whiskeysockets/baileys';
import { FencedError, StateIntegrityError } from '../../../worker/src/auth-store/state-errors.ts';
import { UnreadableObjectError } from '../../../worker/src/auth-store/envelope.ts';
import {
  KeyGenerateError,
  KeyUnwrapError,
  KmsDataKeyProvider,
  KmsUnreachableError,
} from '../../../worker/src/auth-store/key-provider.ts';
import { describeStateError } from '../../../worker/src/auth-store-setup.ts';
import { LeaseLostError } from '../../../worker/src/auth-store/lease-record.ts';
import { SentMessageStore } from '../../../worker/src/auth-store/message-store.ts';
import { ObjectStoreError, S3ObjectStore } from '../../../worker/src/auth-store/object-store.ts';
import { openChannel, realStorage, SwitchableStore } from './fixtures.ts';

const storage = await realStorage('auth-store');
const clinic = 'clinic-a';

/** One value of every key type Baileys 7 stores (SignalDataTypeMap). */
function everyKeyType() {
  return {
    'pre-key': { '1': { public: Buffer.from('pub-1'), private: Buffer.from('priv-1') } },
    session: { '5511@s.whatsapp.net.0': Buffer.from('session-bytes') },
    'sender-key': { 'group@g.us::5511::0': Buffer.from('sender-key') },
    'sender-key-memory': { 'group@g.us': { '5511:1@s.whatsapp.net': true } },
    'app-state-sync-key': {
      AAAA: proto.Message.AppStateSyncKeyData.fromObject({
        keyData: Buffer.from('key-data'),
        timestamp: 1700000000,
      }),
    },
    'app-state-sync-version': { regular: { version: 3, hash: Buffer.alloc(128, 1), indexValueMap: {} } },
    'lid-mapping': { '5511': '123456789' },
    'device-list': { '5511': ['0', '1'] },
    tctoken: { '5511@s.whatsapp.net': { token: Buffer.from('tc'), timestamp: '1700000000' } },
  };
}

describe('channel state on real S3 (MinIO) and KMS (local-kms)', () => {
  test('a fresh channel gets creds that survive a restart, with every key type round-tripping', async () => {
    const a = await openChannel(storage, clinic, 'roundtrip', 'pod-1');
    expect(a.state.isRegistered()).toBe(false);
    const keys = everyKeyType();
    await a.state.keys.set(keys as never);
    a.state.creds.me = { id: '5511987654321:1@s.whatsapp.net', name: 'Clinic' };
    await a.state.saveCreds();
    const noisePublic = Buffer.from(a.state.creds.noiseKey.public).toString('hex');
    await a.lease.release();

    const b = await openChannel(storage, clinic, 'roundtrip', 'pod-2');
    expect(Buffer.from(b.state.creds.noiseKey.public).toString('hex')).toBe(noisePublic);
    expect(b.state.isRegistered()).toBe(true);
    for (const [type, entries] of Object.entries(keys)) {
      const got = await b.state.keys.get(type as never, Object.keys(entries));
      expect(JSON.parse(JSON.stringify(got))).toEqual(JSON.parse(JSON.stringify(entries)));
    }
    const appKey = (await b.state.keys.get('app-state-sync-key', ['AAAA'])).AAAA!;
    expect(appKey).toBeInstanceOf(proto.Message.AppStateSyncKeyData);
    expect(Buffer.from(appKey.keyData!).toString()).toBe('key-data');
    await b.lease.release();
  });

  test('keys.set resolves only when durable; a failed write rejects and changes nothing', async () => {
    const flaky = { store: new SwitchableStore(storage.store), keyProvider: storage.keyProvider };
    const a = await openChannel(flaky, clinic, 'durability', 'pod-1');
    await a.state.keys.set({ session: { s1: Buffer.from('v1') } } as never);
    flaky.store.failPuts = true;
    await expect(
      a.state.keys.set({ session: { s1: Buffer.from('v2'), s2: Buffer.from('new') } } as never),
    ).rejects.toThrow(/ECONNREFUSED/);
    // Nothing ran ahead of S3: the old value, and no partial transaction.
    expect(Buffer.from((await a.state.keys.get('session', ['s1'])).s1!).toString()).toBe('v1');
    expect(await a.state.keys.get('session', ['s2'])).toEqual({});
    flaky.store.failPuts = false;
    await a.state.keys.set({ session: { s3: Buffer.from('after') } } as never);
    await a.lease.release();

    const b = await openChannel(storage, clinic, 'durability', 'pod-2');
    const got = await b.state.keys.get('session', ['s1', 's2', 's3']);
    expect(
      Object.fromEntries(Object.entries(got).map(([k, v]) => [k, Buffer.from(v as Uint8Array).toString()])),
    ).toEqual({ s1: 'v1', s3: 'after' });
    await b.lease.release();
  });

  test("a journal write that landed although its answer was lost is taken as this worker's own, not as a takeover", async () => {
    const lossy = { store: new SwitchableStore(storage.store), keyProvider: storage.keyProvider };
    const a = await openChannel(lossy, clinic, 'lost-answer', 'pod-1');
    lossy.store.loseAnswers = true;
    await expect(a.state.keys.set({ session: { s1: Buffer.from('landed') } } as never)).rejects.toThrow(
      /ECONNRESET/,
    );
    lossy.store.loseAnswers = false;
    // The next write finds its slot taken by the record above: same epoch, so ours. Not fenced.
    await a.state.keys.set({ session: { s2: Buffer.from('next') } } as never);
    a.state.creds.me = { id: '5511900000001:1@s.whatsapp.net', name: 'Clinic' };
    await a.state.saveCreds();
    // What S3 holds is what the worker now counts as durable.
    expect(Buffer.from((await a.state.keys.get('session', ['s1'])).s1!).toString()).toBe('landed');
    await a.lease.release();

    const b = await openChannel(storage, clinic, 'lost-answer', 'pod-2');
    const got = await b.state.keys.get('session', ['s1', 's2']);
    expect(
      Object.fromEntries(Object.entries(got).map(([k, v]) => [k, Buffer.from(v as Uint8Array).toString()])),
    ).toEqual({ s1: 'landed', s2: 'next' });
    expect(b.state.isRegistered()).toBe(true);
    await b.lease.release();
  });

  test("the S3 client's retry of a write that landed (the same request twice) is no conflict", async () => {
    const replayed = { store: new SwitchableStore(storage.store), keyProvider: storage.keyProvider };
    replayed.store.replayPuts = true;
    // A fresh channel: lease, data key and fence record are each created twice over.
    const a = await openChannel(replayed, clinic, 'replayed', 'pod-1');
    await a.state.keys.set({ session: { s: Buffer.from('once') } } as never);
    await a.state.saveCreds();
    replayed.store.replayPuts = false;
    await a.lease.release();
    const b = await openChannel(storage, clinic, 'replayed', 'pod-2');
    expect(Buffer.from((await b.state.keys.get('session', ['s'])).s!).toString()).toBe('once');
    await b.lease.release();
  });

  test('a lease renewal that landed although its answer was lost keeps the lease', async () => {
    const lossy = new SwitchableStore(storage.store);
    const a = await openChannel(
      { store: lossy, keyProvider: storage.keyProvider },
      clinic,
      'lost-renewal',
      'pod-1',
      {
        renewEveryMs: 3_600_000, // renewed by hand below
      },
    );
    lossy.loseAnswers = true;
    await a.lease.renew(); // a transient failure as far as the worker can tell
    lossy.loseAnswers = false;
    await a.lease.renew(); // finds the lease changed since its last known version: by itself
    expect(a.lease.valid()).toBe(true);
    expect(await a.lease.stillHeld()).toBe(true);
    await a.state.keys.set({ session: { s: Buffer.from('still the holder') } } as never);
    // And a release right after such a renewal still frees the lease at once (no wait for expiry).
    lossy.loseAnswers = true;
    await a.lease.renew();
    lossy.loseAnswers = false;
    await a.lease.release();
    const stored = JSON.parse(
      Buffer.from((await storage.store.get(`wa/${clinic}/lost-renewal/lease`))!.body).toString(),
    ) as { expiresAt: number };
    expect(stored.expiresAt).toBe(0);
  });

  test('a transaction or creds save that changes nothing durable writes nothing', async () => {
    const a = await openChannel(storage, clinic, 'no-op-writes', 'pod-1');
    const journal = async () =>
      (await storage.store.list(`wa/${clinic}/no-op-writes/journal/`)).map((o) => o.key).length;
    await a.state.keys.set({ 'lid-mapping': { '5511': '123' }, session: { s1: Buffer.from('v1') } } as never);
    await a.state.saveCreds();
    const written = await journal();
    // What Baileys does on every message: the same LID mapping, an unchanged session, unchanged creds.
    await a.state.keys.set({ 'lid-mapping': { '5511': '123' }, session: { s1: Buffer.from('v1') } } as never);
    await a.state.keys.set({ session: { absent: null } } as never);
    await a.state.saveCreds();
    expect(await journal()).toBe(written);
    // A real change is written, and only the keys that changed go into its record.
    await a.state.keys.set({ 'lid-mapping': { '5511': '123' }, session: { s1: Buffer.from('v2') } } as never);
    a.state.creds.me = { id: '5511987654321:1@s.whatsapp.net', name: 'Clinic' };
    await a.state.saveCreds();
    expect(await journal()).toBe(written + 2);
    await a.lease.release();

    const b = await openChannel(storage, clinic, 'no-op-writes', 'pod-2');
    expect(Buffer.from((await b.state.keys.get('session', ['s1'])).s1!).toString()).toBe('v2');
    expect(await b.state.keys.get('lid-mapping', ['5511'])).toEqual({ '5511': '123' });
    expect(b.state.creds.me?.id).toBe('5511987654321:1@s.whatsapp.net');
    await b.lease.release();
  });

  test('a read that fails throws and never creates fresh creds', async () => {
    const a = await openChannel(storage, clinic, 'unreadable', 'pod-1');
    const noise = Buffer.from(a.state.creds.noiseKey.public).toString('hex');
    await a.lease.release();
    const dead = {
      store: new S3ObjectStore(storage.bucket, { ...storage.s3Config, endpoint: 'http://127.0.0.1:1' }),
      keyProvider: storage.keyProvider,
    };
    await expect(openChannel(dead, clinic, 'unreadable', 'pod-2')).rejects.toThrow(ObjectStoreError);
    // The state is untouched: the next worker gets the same identity.
    const c = await openChannel(storage, clinic, 'unreadable', 'pod-3');
    expect(Buffer.from(c.state.creds.noiseKey.public).toString('hex')).toBe(noise);
    await c.lease.release();
  });

  test('a missing data key beside existing state is refused, not replaced with fresh creds', async () => {
    const a = await openChannel(storage, clinic, 'no-datakey', 'pod-1');
    await a.lease.release();
    await storage.store.delete(`wa/${clinic}/no-datakey/datakey`);
    await expect(openChannel(storage, clinic, 'no-datakey', 'pod-2')).rejects.toThrow(StateIntegrityError);
    expect(await storage.store.get(`wa/${clinic}/no-datakey/datakey`)).toBeNull();
  });

  test('a stale holder that believes it still holds the lease is refused by S3 itself', async () => {
    // Worker A's clock is frozen: it was paused and does not know its lease expired.
    const frozen = Date.now();
    const a = await openChannel(storage, clinic, 'fencing', 'pod-a', {
      leaseTtlMs: 1_500,
      renewEveryMs: 3_600_000,
      now: () => frozen,
    });
    await a.state.keys.set({ session: { s: Buffer.from('from-a') } } as never);
    // Worker B takes over once A's lease has expired by the real clock.
    const b = await openChannel(storage, clinic, 'fencing', 'pod-b');
    expect(b.lease.epoch).toBe(a.lease.epoch + 1);
    expect(a.lease.valid()).toBe(true); // A's own view: still fine
    await expect(a.state.keys.set({ session: { s: Buffer.from('stale') } } as never)).rejects.toThrow(
      FencedError,
    );
    expect(a.state.isFencingError(new FencedError('x'))).toBe(true);
    await b.state.keys.set({ session: { s: Buffer.from('from-b') } } as never);
    await b.lease.release();
    const c = await openChannel(storage, clinic, 'fencing', 'pod-c');
    expect(Buffer.from((await c.state.keys.get('session', ['s'])).s!).toString()).toBe('from-b');
    await c.lease.release();
  });

  test('a worker whose lease expired by its own clock refuses to write', async () => {
    const a = await openChannel(storage, clinic, 'self-fence', 'pod-a', {
      leaseTtlMs: 1_000,
      renewEveryMs: 3_600_000,
    });
    await new Promise((r) => setTimeout(r, 1_000));
    await expect(a.state.keys.set({ session: { s: Buffer.from('late') } } as never)).rejects.toThrow(
      LeaseLostError,
    );
  });

  test("an object copied into another channel's prefix does not decrypt, and names the object", async () => {
    const x = await openChannel(storage, clinic, 'victim', 'pod-x');
    await x.state.keys.set({ session: { s: Buffer.from('x') } } as never);
    await x.lease.release();
    const y = await openChannel(storage, clinic, 'attacker', 'pod-y');
    await y.lease.release();
    const source = await storage.store.get(`wa/${clinic}/victim/journal/000000000002`);
    await storage.store.put(`wa/${clinic}/attacker/journal/000000000002`, source!.body);
    const error = await openChannel(storage, clinic, 'attacker', 'pod-y2').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnreadableObjectError);
    expect((error as Error).message).toContain(`wa/${clinic}/attacker/journal/000000000002`);
    // Left untouched for investigation.
    expect(await storage.store.get(`wa/${clinic}/attacker/journal/000000000002`)).not.toBeNull();
  });

  test('a data key copied from another channel fails at KMS with a clear error (encryption context)', async () => {
    const x = await openChannel(storage, clinic, 'key-owner', 'pod-x');
    await x.lease.release();
    const datakey = await storage.store.get(`wa/${clinic}/key-owner/datakey`);
    await storage.store.put(`wa/other-clinic/thief/datakey`, datakey!.body);
    const error = await openChannel(storage, 'other-clinic', 'thief', 'pod-t').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KeyUnwrapError);
    expect((error as Error).message).toMatch(/KMS refused to decrypt the data key of other-clinic\/thief/);
  });

  test('KMS not answering is told apart from KMS refusing the key', async () => {
    const away = new KmsDataKeyProvider(storage.keyId, {
      ...storage.kmsConfig,
      endpoint: 'http://127.0.0.1:1', // nothing listens
      maxAttempts: 1,
    });
    const context = { clinic, channel: 'kms-away' };
    const generated = await away.generate(context).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(generated).toBeInstanceOf(KmsUnreachableError);
    expect(describeStateError(generated).reason).toBe('KmsUnavailable');
    const unwrapped = await away.unwrap(new Uint8Array(8), context).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(unwrapped).toBeInstanceOf(KmsUnreachableError);
    // A key KMS does not have is a refusal, about the key.
    const missing = new KmsDataKeyProvider('alias/does-not-exist', storage.kmsConfig);
    const refused = await missing.generate(context).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(KeyGenerateError);
    expect(describeStateError(refused).reason).toBe('KmsKeyUnavailable');
    away.destroy();
    missing.destroy();
  });

  test('pre-keys stored without their creds save never get their ids handed out again', async () => {
    const a = await openChannel(storage, clinic, 'prekeys', 'pod-1');
    const next = a.state.creds.nextPreKeyId;
    const preKeys = Object.fromEntries(
      [next, next + 1, next + 2].map((id) => [
        String(id),
        { public: Buffer.from('p'), private: Buffer.from('q') },
      ]),
    );
    await a.state.keys.set({ 'pre-key': preKeys } as never);
    await a.lease.release(); // "crash" before creds.update was saved
    const b = await openChannel(storage, clinic, 'prekeys', 'pod-2');
    expect(b.state.creds.nextPreKeyId).toBe(next + 3);
    expect(b.state.creds.firstUnuploadedPreKeyId).toBeGreaterThanOrEqual(next + 3);
    await b.lease.release();
  });

  test('compaction writes a snapshot and a restart reads the same state from it', async () => {
    const a = await openChannel(storage, clinic, 'compaction', 'pod-1', {
      compactEvery: 5,
      keepJournalMs: 0,
    });
    for (let i = 0; i < 12; i++)
      await a.state.keys.set({ session: { [`s${i}`]: Buffer.from(`v${i}`) } } as never);
    // The first call may only wait for an automatic compaction started by the writes (compactEvery
    // 5) before the last of them; the second then covers every write.
    await a.state.compact();
    await a.state.compact();
    const objects = (await storage.store.list(`wa/${clinic}/compaction/`)).map((o) =>
      o.key.split('/').slice(-2).join('/'),
    );
    expect(objects.some((k) => k.startsWith('snapshot/'))).toBe(true);
    expect(objects.filter((k) => k.startsWith('journal/')).length).toBeLessThan(13);
    await a.lease.release();
    const b = await openChannel(storage, clinic, 'compaction', 'pod-2');
    const got = await b.state.keys.get(
      'session',
      Array.from({ length: 12 }, (_, i) => `s${i}`),
    );
    expect(Object.keys(got)).toHaveLength(12);
    await b.lease.release();
  });

  test('the message store returns undefined for unknown ids and the message for known ones', async () => {
    const a = await openChannel(storage, clinic, 'messages', 'pod-1');
    const messages = new SentMessageStore(a.state, storage.store, { maxMessages: 2 });
    await messages.load();
    expect(await messages.get('unknown')).toBeUndefined();
    await messages.put('m1', { conversation: 'one' });
    await messages.put('m2', { conversation: 'two' });
    await messages.put('m3', { conversation: 'three' });
    expect((await messages.get('m3'))?.conversation).toBe('three');
    expect(await messages.get('m1')).toBeUndefined(); // bounded: the oldest went
    await a.lease.release();
  });

  test('nothing readable is stored: no creds field names, no key material', async () => {
    const a = await openChannel(storage, clinic, 'scan', 'pod-1');
    await a.state.keys.set(everyKeyType() as never);
    await a.state.saveCreds();
    const secrets = [
      Buffer.from(a.state.creds.noiseKey.private).toString('base64'),
      Buffer.from(a.state.creds.signedIdentityKey.private).toString('base64'),
      Buffer.from(a.state.creds.noiseKey.private).toString('hex'),
    ];
    await a.state.compact();
    await a.lease.release();
    const objects = await storage.store.list(`wa/${clinic}/scan/`);
    expect(objects.length).toBeGreaterThan(3);
    for (const o of objects) {
      const text = Buffer.from((await storage.store.get(o.key))!.body).toString('latin1');
      for (const word of [
        'noiseKey',
        'signedIdentityKey',
        'registrationId',
        'advSecretKey',
        'private',
        'priv-1',
        'session-bytes',
      ]) {
        expect({ key: o.key, found: text.includes(word) ? word : undefined }).toEqual({
          key: o.key,
          found: undefined,
        });
      }
      for (const s of secrets) expect(text.includes(s)).toBe(false);
    }
  });
});
