import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyUnwrapError } from '../../../worker/src/auth-store/key-provider.ts';
import {
  KeyFileError,
  LocalKeyFileProvider,
} from '../../../worker/src/auth-store/local-key-file-provider.ts';

/** The local stand-in for KMS: a key file, data keys wrapped under {clinic, channel}. */
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wa-local-key-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const ctx = { clinic: 'clinic-a', channel: 'front-desk' };

describe('LocalKeyFileProvider', () => {
  test('creates a 32-byte key file 0600 in a 0700 folder on first use, and reuses it', async () => {
    const file = join(dir, 'keys', 'local.key');
    const a = await LocalKeyFileProvider.open(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'keys'))).mode & 0o777).toBe(0o700);
    const key = await readFile(file);
    expect(key).toHaveLength(32);
    const b = await LocalKeyFileProvider.open(file);
    expect(await readFile(file)).toEqual(key);
    expect(b.keyId).toBe(a.keyId);
    expect(a.keyId).toMatch(/^local:[0-9a-f]{16}$/);
  });

  test('a wrapped data key unwraps to the same key under the same context only', async () => {
    const provider = await LocalKeyFileProvider.open(join(dir, 'local.key'));
    const { plaintext, wrapped } = await provider.generate(ctx);
    expect(plaintext).toHaveLength(32);
    expect(Buffer.from(wrapped).includes(Buffer.from(plaintext))).toBe(false);
    expect(Buffer.from(await provider.unwrap(wrapped, ctx))).toEqual(Buffer.from(plaintext));
    await expect(provider.unwrap(wrapped, { ...ctx, channel: 'billing' })).rejects.toThrow(KeyUnwrapError);
    await expect(provider.unwrap(wrapped, { ...ctx, clinic: 'clinic-b' })).rejects.toThrow(KeyUnwrapError);
  });

  test('another key file, or a tampered wrapped key, does not unwrap', async () => {
    const { wrapped } = await (await LocalKeyFileProvider.open(join(dir, 'one.key'))).generate(ctx);
    const other = await LocalKeyFileProvider.open(join(dir, 'two.key'));
    await expect(other.unwrap(wrapped, ctx)).rejects.toThrow(/decrypt the data key of clinic-a\/front-desk/);
    const mine = await LocalKeyFileProvider.open(join(dir, 'one.key'));
    const tampered = Buffer.from(wrapped);
    tampered[10] = tampered[10]! ^ 1;
    await expect(mine.unwrap(tampered, ctx)).rejects.toThrow(KeyUnwrapError);
    await expect(mine.unwrap(Buffer.from('garbage'), ctx)).rejects.toThrow(KeyUnwrapError);
  });

  test('a key file others may read, or of the wrong size, is refused with a clear message', async () => {
    const open = join(dir, 'open.key');
    await writeFile(open, Buffer.alloc(32, 7), { mode: 0o644 });
    await chmod(open, 0o644);
    await expect(LocalKeyFileProvider.open(open)).rejects.toThrow(/chmod 600/);
    const short = join(dir, 'short.key');
    await writeFile(short, Buffer.alloc(16, 7), { mode: 0o600 });
    await expect(LocalKeyFileProvider.open(short)).rejects.toThrow(KeyFileError);
    await expect(LocalKeyFileProvider.open('relative.key')).rejects.toThrow(/absolute path/);
  });

  test('concurrent first starts agree on one key', async () => {
    const file = join(dir, 'race.key');
    const providers = await Promise.all(Array.from({ length: 8 }, () => LocalKeyFileProvider.open(file)));
    expect(new Set(providers.map((p) => p.keyId)).size).toBe(1);
  });
});
