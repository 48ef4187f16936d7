import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTrustRoot } from '../../../worker/src/session/trust-root.ts';

describe('WA_TRUST_ROOT (the protocol simulator root key)', () => {
  const key = Buffer.alloc(32, 7);

  test('the key itself, 64 hex characters, as a worker pod gets it from its environment', async () => {
    expect((await loadTrustRoot(key.toString('hex'))).publicKey).toEqual(key);
  });

  test('or the path of a file holding it', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'root-')), 'root.hex');
    await writeFile(file, key.toString('hex'));
    expect((await loadTrustRoot(file)).publicKey).toEqual(key);
  });

  test('anything else is a path, and a missing file fails', async () => {
    await expect(loadTrustRoot('abc123')).rejects.toThrow(/ENOENT/);
  });
});
