import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsCredsFileError, openNatsConnection } from '../../../contract/index.ts';

/** A connection that must succeed now says so when its creds file cannot be read, before it dials. */
describe('openNatsConnection', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nats-connection-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test('an unreadable creds file is a NatsCredsFileError with its code and file', async () => {
    const file = join(dir, 'missing.creds');
    const opening = openNatsConnection({
      // Nothing listens there; the creds file is read before any dial.
      url: 'nats://127.0.0.1:1',
      name: 'test',
      credsFile: file,
      reconnect: 'never',
    });
    await expect(opening).rejects.toBeInstanceOf(NatsCredsFileError);
    await expect(opening).rejects.toMatchObject({
      code: 'NatsCredsFileUnreadable',
      file,
      message: expect.stringContaining(`cannot read the credentials file ${file}`),
    });
  });
});
