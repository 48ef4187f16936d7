import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { ChannelState } from '../../../worker/src/auth-store/channel-state.ts';
import { FencedError } from '../../../worker/src/auth-store/state-errors.ts';
import { ChannelLease } from '../../../worker/src/auth-store/lease.ts';
import { LocalDiskObjectStore } from '../../../worker/src/auth-store/local-disk-object-store.ts';
import { LocalKeyFileProvider } from '../../../worker/src/auth-store/local-key-file-provider.ts';
import { ObjectStoreError, PreconditionFailedError } from '../../../worker/src/auth-store/object-store.ts';
import { MiB, randomSource, readInChunks } from '../../harness/byte-streams.ts';
import { eventually } from '../../harness/eventually.ts';
import { repoRoot } from '../../harness/paths.ts';

/**
 * The local-mode object store on the real file system: the conditional-write semantics the
 * lease and the journal need from S3 (If-None-Match / If-Match), within one process and
 * across processes, and its permissions.
 */
let dir: string;
let store: LocalDiskObjectStore;
const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const text = (o: { body: Uint8Array } | null) => (o ? Buffer.from(o.body).toString() : null);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-local-store-'));
  store = new LocalDiskObjectStore(join(dir, 'state'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('LocalDiskObjectStore', () => {
  test('a missing object is null; a stored one comes back with an ETag that changes with the body', async () => {
    expect(await store.get('wa/c/ch/lease')).toBeNull();
    const e1 = await store.put('wa/c/ch/lease', bytes('one'));
    expect(await store.get('wa/c/ch/lease')).toEqual({ body: bytes('one'), etag: e1 });
    const e2 = await store.put('wa/c/ch/lease', bytes('two'));
    expect(e2).not.toBe(e1);
    expect(text(await store.get('wa/c/ch/lease'))).toBe('two');
  });

  test('If-None-Match: a second create of the same key is refused and changes nothing', async () => {
    await store.put('wa/c/ch/journal/000000000001', bytes('first'), { ifAbsent: true });
    await expect(
      store.put('wa/c/ch/journal/000000000001', bytes('second'), { ifAbsent: true }),
    ).rejects.toThrow(PreconditionFailedError);
    expect(text(await store.get('wa/c/ch/journal/000000000001'))).toBe('first');
  });

  test('If-Match: only the current ETag may replace an object', async () => {
    const e1 = await store.put('k/lease', bytes('v1'));
    const e2 = await store.put('k/lease', bytes('v2'), { ifMatch: e1 });
    await expect(store.put('k/lease', bytes('stale'), { ifMatch: e1 })).rejects.toThrow(
      PreconditionFailedError,
    );
    await expect(store.put('k/missing', bytes('x'), { ifMatch: e1 })).rejects.toThrow(
      PreconditionFailedError,
    );
    expect(await store.get('k/missing')).toBeNull();
    await store.put('k/lease', bytes('v3'), { ifMatch: e2 });
    expect(text(await store.get('k/lease'))).toBe('v3');
  });

  test('of 20 concurrent creates exactly one wins; of 20 concurrent compare-and-sets on one ETag, one wins', async () => {
    const creates = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.put('race/slot', bytes(`w${i}`), { ifAbsent: true })),
    );
    expect(creates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(
      creates.filter((r) => r.status === 'rejected' && r.reason instanceof PreconditionFailedError),
    ).toHaveLength(19);
    const { etag } = (await store.get('race/slot'))!;
    const swaps = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => store.put('race/slot', bytes(`s${i}`), { ifMatch: etag })),
    );
    const winners = swaps.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(text(await store.get('race/slot'))).toBe(`s${winners[0]}`);
  });

  test('two processes incrementing one counter by compare-and-set lose no update', async () => {
    const script = `
      const { LocalDiskObjectStore } = await import(${JSON.stringify(join(repoRoot, 'worker/src/auth-store/local-disk-object-store.ts'))});
      const { PreconditionFailedError } = await import(${JSON.stringify(join(repoRoot, 'worker/src/auth-store/object-store.ts'))});
      const store = new LocalDiskObjectStore(process.argv[1]);
      let done = 0;
      while (done < 40) {
        const cur = await store.get('counter');
        const n = cur ? Number(Buffer.from(cur.body).toString()) : 0;
        try {
          await store.put('counter', Buffer.from(String(n + 1)), cur ? { ifMatch: cur.etag } : { ifAbsent: true });
          done++;
        } catch (err) {
          if (!(err instanceof PreconditionFailedError)) throw err;
        }
      }`;
    const run = () =>
      promisify(execFile)(
        process.execPath,
        ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script, join(dir, 'state')],
        { timeout: 60_000 },
      );
    await Promise.all([run(), run()]);
    expect(text(await store.get('counter'))).toBe('80');
  });

  test('files are 0600 and folders 0700; no temporary or lock file is left behind', async () => {
    await store.put('wa/c/ch/datakey', bytes('k'), { ifAbsent: true });
    await store.put('wa/c/ch/lease', bytes('l'));
    expect((await stat(join(dir, 'state/wa/c/ch/datakey'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'state/wa/c/ch/lease'))).mode & 0o777).toBe(0o600);
    for (const folder of ['state', 'state/wa', 'state/wa/c', 'state/wa/c/ch'])
      expect((await stat(join(dir, folder))).mode & 0o777).toBe(0o700);
    expect((await readdir(join(dir, 'state/wa/c/ch'))).sort()).toEqual(['datakey', 'lease']);
  });

  test('list is by string prefix, recursive and sorted; delete removes one object', async () => {
    for (const k of ['wa/a/x/journal/2', 'wa/a/x/journal/1', 'wa/a/x/lease', 'wa/a/xy/lease', 'wa/b/x/lease'])
      await store.put(k, bytes(k));
    expect((await store.list('wa/a/x/')).map((o) => o.key)).toEqual([
      'wa/a/x/journal/1',
      'wa/a/x/journal/2',
      'wa/a/x/lease',
    ]);
    expect((await store.list('wa/a/x')).map((o) => o.key)).toContain('wa/a/xy/lease');
    expect(await store.list('nothing/')).toEqual([]);
    await store.delete('wa/a/x/lease');
    await store.delete('wa/a/x/never-there');
    expect((await store.list('wa/a/x/')).map((o) => o.key)).toEqual(['wa/a/x/journal/1', 'wa/a/x/journal/2']);
  });

  test('keys that could leave the folder are refused', async () => {
    for (const key of ['../escape', 'wa/../../escape', '/abs', 'wa//double', 'wa/.hidden'])
      await expect(store.put(key, bytes('x'))).rejects.toThrow(ObjectStoreError);
    await expect(store.get('../escape')).rejects.toThrow(ObjectStoreError);
  });

  test("the lock of a process killed inside its write is broken; a live one's is respected", async () => {
    await store.put('k/lease', bytes('v1'));
    const { etag } = (await store.get('k/lease'))!;
    // A pid that cannot exist (above pid_max) stands for a dead holder.
    await writeFile(join(dir, 'state/k/.lease.lock'), '2147483646');
    await store.put('k/lease', bytes('v2'), { ifMatch: etag });
    expect(text(await store.get('k/lease'))).toBe('v2');
    // This very process holds the lock: the write waits, then fails without writing.
    await writeFile(join(dir, 'state/k/.lease.lock'), String(process.pid));
    const impatient = new LocalDiskObjectStore(join(dir, 'state'), { lockWaitMs: 300 });
    await expect(impatient.put('k/lease', bytes('v3'))).rejects.toThrow(/stayed locked/);
    await expect(impatient.put('k/lease', bytes('v4'), { ifMatch: etag })).rejects.toThrow(/stayed locked/);
    expect(text(await store.get('k/lease'))).toBe('v2');
  });

  test("a dead holder's lock broken by many writers at once still lets exactly one create win", async () => {
    // Each writer finds the dead pid, and each would remove the lock: only one may, or a later
    // one removes the lock the first has just taken, and both write.
    for (let round = 0; round < 20; round++) {
      const key = `broken/slot${round}`;
      await mkdir(join(dir, 'state/broken'), { recursive: true });
      await writeFile(join(dir, `state/broken/.slot${round}.lock`), '2147483646');
      const creates = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => store.put(key, bytes(`w${i}`), { ifAbsent: true })),
      );
      const won = creates.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect({ round, won: won.length }).toEqual({ round, won: 1 });
      expect(text(await store.get(key))).toBe(`w${won[0]}`);
    }
    expect((await readdir(join(dir, 'state/broken'))).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  test('a read error is an error, never "not found"', async () => {
    await store.put('wa/c/ch/journal/1', bytes('x'));
    // A folder where an object should be: reading it fails with EISDIR.
    await expect(store.get('wa/c/ch/journal')).rejects.toThrow(ObjectStoreError);
  });

  test('the channel state and lease run on it: fresh creds survive a restart, a stale holder is fenced', async () => {
    const keyProvider = await LocalKeyFileProvider.open(join(dir, 'key'));
    const open = async (holder: string, ttlMs = 10_000, now?: () => number) => {
      const lease = new ChannelLease(store, 'wa/clinic-a/main/', {
        holder,
        ttlMs,
        renewEveryMs: 3_600_000,
        ...(now ? { now } : {}),
      });
      await lease.acquire();
      const state = new ChannelState({
        store,
        keyProvider,
        lease,
        prefix: 'wa',
        clinic: 'clinic-a',
        channel: 'main',
      });
      await state.open();
      return { state, lease };
    };
    const frozen = Date.now();
    const a = await open('pod-a', 1_000, () => frozen);
    await a.state.keys.set({ session: { s: Buffer.from('from-a') } } as never);
    const noise = Buffer.from(a.state.creds.noiseKey.public).toString('hex');
    const b = await open('pod-b');
    expect(Buffer.from(b.state.creds.noiseKey.public).toString('hex')).toBe(noise);
    await expect(a.state.keys.set({ session: { s: Buffer.from('stale') } } as never)).rejects.toThrow(
      FencedError,
    );
    expect(Buffer.from((await b.state.keys.get('session', ['s'])).s!).toString()).toBe('from-a');
    await b.lease.release();
    // Nothing readable on disk: every state object is in the WAE1 envelope.
    for (const o of await store.list('wa/clinic-a/main/')) {
      if (o.key.endsWith('/lease') || o.key.endsWith('/datakey')) continue;
      expect(text(await store.get(o.key))!.slice(0, 4)).toBe('WAE1');
    }
  });
});

describe('LocalDiskObjectStore streams', () => {
  const SIZE = 20 * MiB;
  /** The bytes already in the temporary file of a streamed write to `folder` (0 while there is none). */
  const bytesOnTheWay = async (folder: string) => {
    const names = await readdir(join(dir, 'state', folder)).catch(() => [] as string[]);
    const temporary = names.filter((n) => n.includes('.tmp-'));
    const sizes = await Promise.all(
      temporary.map((n) => stat(join(dir, 'state', folder, n)).then((s) => s.size)),
    );
    return sizes.reduce((a, b) => a + b, 0);
  };

  test('a 20 MiB object streams in and out intact, written to disk before the source has made all of it', async () => {
    const source = randomSource(SIZE, {
      // Halfway, the source waits until 5 MiB are on disk: a put that gathered the whole body first never gets there.
      pause: {
        after: SIZE / 2,
        until: () =>
          eventually('5 MiB of the body on disk', async () => (await bytesOnTheWay('media')) >= 5 * MiB),
      },
    });
    const etag = await store.putStream('media/large', source.body, { contentLength: SIZE });

    const got = await store.getStream('media/large');
    expect(got?.size).toBe(SIZE);
    const read = await readInChunks(got!.body);
    expect(read.bytes).toBe(SIZE);
    expect(read.sha256).toBe(source.sha256());
    // It arrived as many pieces, none of them the whole object.
    expect(read.chunks).toBeGreaterThan(10);
    expect(read.largestChunk).toBeLessThan(SIZE / 10);
    // The ETag is the same as the buffered API's, so either can compare-and-set the other's writes.
    expect((await store.get('media/large'))?.etag).toBe(etag);
    expect((await readdir(join(dir, 'state/media'))).sort()).toEqual(['large']);
    expect((await stat(join(dir, 'state/media/large'))).mode & 0o777).toBe(0o600);
  });

  test('a reader keeps the body it opened while a new one is renamed over it', async () => {
    await store.put('media/replaced', bytes('old body'));
    const reading = await store.getStream('media/replaced');
    await store.put('media/replaced', bytes('new body, longer'));
    expect(Buffer.concat(await reading!.body.toArray()).toString()).toBe('old body');
    expect(text(await store.get('media/replaced'))).toBe('new body, longer');
  });

  test('streamed writes keep the conditions, and a body of another length than announced stores nothing', async () => {
    expect(await store.getStream('media/missing')).toBeNull();
    const e1 = await store.putStream('media/c', Readable.from([bytes('one')]), {
      contentLength: 3,
      ifAbsent: true,
    });
    await expect(
      store.putStream('media/c', Readable.from([bytes('two')]), { contentLength: 3, ifAbsent: true }),
    ).rejects.toThrow(PreconditionFailedError);
    await expect(
      store.putStream('media/c', Readable.from([bytes('two')]), { contentLength: 3, ifMatch: '"stale"' }),
    ).rejects.toThrow(PreconditionFailedError);
    await store.putStream('media/c', Readable.from([bytes('two')]), { contentLength: 3, ifMatch: e1 });
    expect(text(await store.get('media/c'))).toBe('two');

    for (const [body, length] of [
      ['short', 9],
      ['too long', 3],
    ] as const)
      await expect(
        store.putStream('media/other-length', Readable.from([bytes(body)]), { contentLength: length }),
      ).rejects.toThrow(ObjectStoreError);
    expect(await store.get('media/other-length')).toBeNull();
    expect((await readdir(join(dir, 'state/media'))).sort()).toEqual(['c']);
  });
});
