/**
 * The channel's media store on an in-memory object store: pieces and manifest, reads across
 * pieces, nothing readable after a failed or oversized write, uploads, retention and clean-up;
 * and what is in the bucket is sealed (no plaintext) and bound to its place.
 */
import { randomBytes } from 'node:crypto';
import { mediaFolderName } from '../../../contract/state-layout.ts';
import { SealedObjects } from '../../../worker/src/auth-store/sealed-objects.ts';
import type { ListedObject, ObjectStore, StoredObject } from '../../../worker/src/auth-store/object-store.ts';
import {
  MediaNotFoundError,
  MediaStore,
  MediaTooLargeError,
  PART_BYTES,
  UploadShapeError,
} from '../../../worker/src/media/media-store.ts';

class MemoryStore implements ObjectStore {
  readonly location = 'mem://';
  readonly objects = new Map<string, { body: Buffer; at: Date }>();
  async get(key: string): Promise<StoredObject | null> {
    const o = this.objects.get(key);
    return o ? { body: o.body, etag: '' } : null;
  }
  async put(key: string, body: Uint8Array): Promise<string> {
    this.objects.set(key, { body: Buffer.from(body), at: new Date() });
    return '';
  }
  async list(prefix: string): Promise<ListedObject[]> {
    return [...this.objects]
      .filter(([k]) => k.startsWith(prefix))
      .map(([key, o]) => ({ key, lastModified: o.at }));
  }
  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }
  getStream(): never {
    throw new Error('not used');
  }
  putStream(): never {
    throw new Error('not used');
  }
}

const dataKey = randomBytes(32);
function setup() {
  const store = new MemoryStore();
  const objects = new SealedObjects({ store, dataKey, clinic: 'c', channel: 'ch', base: 'wa/c/ch/' });
  return { store, media: new MediaStore(() => objects) };
}

async function* chunks(data: Buffer, size = 100_000): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

test('a file is stored as sealed pieces plus a manifest, and reads back whole and by range', async () => {
  const { store, media } = setup();
  const file = Buffer.concat([Buffer.from('PLAINTEXT-MARKER'), randomBytes(Math.floor(2.5 * PART_BYTES))]);
  const manifest = await media.write(
    'in:A',
    chunks(file),
    { kind: 'document', fileName: 'a.pdf' },
    10 * PART_BYTES,
  );
  expect(manifest).toMatchObject({ ref: 'in:A', size: file.length, parts: 3, fileName: 'a.pdf' });
  const keys = [...store.objects.keys()];
  expect(keys.filter((k) => k.includes('/part/'))).toHaveLength(3);
  expect(keys.filter((k) => k.endsWith('/manifest'))).toHaveLength(1);
  for (const { body } of store.objects.values()) {
    expect(body.subarray(0, 4).toString()).toBe('WAE1');
    expect(body.includes(Buffer.from('PLAINTEXT-MARKER'))).toBe(false);
    expect(body.includes(Buffer.from('a.pdf'))).toBe(false);
  }
  expect((await collect(media.stream('in:A'))).equals(file)).toBe(true);
  const across = await media.read('in:A', PART_BYTES - 10, 30);
  expect(across.data.equals(file.subarray(PART_BYTES - 10, PART_BYTES + 20))).toBe(true);
  const tail = await media.read('in:A', file.length - 5, 100);
  expect(tail.data.equals(file.subarray(file.length - 5))).toBe(true);
});

test('a piece moved to another place fails authentication instead of being read', async () => {
  const { store, media } = setup();
  const file = randomBytes(PART_BYTES + 10);
  await media.write('in:A', chunks(file), { kind: 'image' }, 10 * PART_BYTES);
  const [first, second] = [...store.objects.keys()].filter((k) => k.includes('/part/')).sort();
  const swapped = store.objects.get(first!)!;
  store.objects.set(first!, store.objects.get(second!)!);
  store.objects.set(second!, swapped);
  await expect(media.read('in:A', 0, 10)).rejects.toThrow(/authentication failed/);
});

test('a source that fails mid-way leaves nothing readable and no pieces; a pending record stays', async () => {
  const { store, media } = setup();
  await media.savePending('in:B', { v: 1, note: 'retry me' });
  async function* broken(): AsyncGenerator<Buffer> {
    yield randomBytes(PART_BYTES);
    yield randomBytes(PART_BYTES);
    throw new Error('MAC mismatch');
  }
  await expect(media.write('in:B', broken(), { kind: 'video' }, 10 * PART_BYTES)).rejects.toThrow(
    'MAC mismatch',
  );
  expect(await media.manifest('in:B')).toBeNull();
  expect([...store.objects.keys()].filter((k) => k.includes('/part/'))).toEqual([]);
  expect(await media.pending('in:B')).toEqual({ v: 1, note: 'retry me' });
  await expect(media.read('in:B', 0, 1)).rejects.toThrow(MediaNotFoundError);
});

test('a file going past the limit is refused as too large, with nothing kept', async () => {
  const { store, media } = setup();
  await expect(
    media.write('in:C', chunks(randomBytes(3 * PART_BYTES)), { kind: 'document' }, 2 * PART_BYTES),
  ).rejects.toThrow(MediaTooLargeError);
  expect(store.objects.size).toBe(0);
});

test('an upload is readable only once complete, and its pieces must have one size', async () => {
  const { media } = setup();
  const a = randomBytes(1000);
  const b = randomBytes(400);
  await media.putUploadPart('up:u', 0, a);
  await media.putUploadPart('up:u', 1, b);
  expect(await media.manifest('up:u')).toBeNull();
  const manifest = await media.completeUpload('up:u', 1, { kind: 'document', mimetype: 'application/pdf' });
  expect(manifest).toMatchObject({ size: 1400, parts: 2, partBytes: 1000 });
  expect((await media.read('up:u', 900, 200)).data.equals(Buffer.concat([a, b]).subarray(900, 1100))).toBe(
    true,
  );
  // Uploading again under the same id starts the file over.
  await media.putUploadPart('up:u', 0, randomBytes(500));
  expect(await media.manifest('up:u')).toBeNull();
  await media.putUploadPart('up:u', 1, randomBytes(600));
  await expect(media.completeUpload('up:u', 1, { kind: 'document' })).rejects.toThrow(UploadShapeError);
  await expect(media.completeUpload('up:v', 0, { kind: 'document' })).rejects.toThrow(MediaNotFoundError);
});

test('the sweep removes files past retention and abandoned writes, and keeps the rest', async () => {
  const { store, media } = setup();
  await media.write('in:old', chunks(randomBytes(10)), { kind: 'image' }, PART_BYTES);
  await media.write('in:new', chunks(randomBytes(10)), { kind: 'image' }, PART_BYTES);
  await media.putUploadPart('up:abandoned', 0, randomBytes(10));
  await media.putUploadPart('up:fresh', 0, randomBytes(10));
  const day = 24 * 60 * 60 * 1000;
  const now = Date.now();
  const age = (ref: string, ms: number) => {
    for (const [k, o] of store.objects) if (k.includes(mediaFolderName(ref))) o.at = new Date(now - ms);
  };
  age('in:old', 31 * day);
  age('up:abandoned', 2 * 60 * 60 * 1000);
  expect(await media.sweep(now, 30 * day)).toBe(2);
  expect(await media.manifest('in:old')).toBeNull();
  expect(await media.manifest('in:new')).not.toBeNull();
  const left = [...store.objects.keys()];
  expect(left.some((k) => k.includes(mediaFolderName('up:abandoned')))).toBe(false);
  expect(left.some((k) => k.includes(mediaFolderName('up:fresh')))).toBe(true);
});
