import { Readable } from 'node:stream';
import {
  ObjectStoreError,
  PreconditionFailedError,
  S3ObjectStore,
} from '../../../worker/src/auth-store/object-store.ts';
import { MiB, randomSource, readInChunks } from '../../harness/byte-streams.ts';
import { eventually } from '../../harness/eventually.ts';
import { TcpProxy } from '../../harness/tcp-proxy.ts';
import { realStorage } from './fixtures.ts';

/**
 * Streamed reads and writes of the S3 object store, on real MinIO, for objects too large to hold
 * in memory (media). The S3 client sends through a proxy that counts the bytes, so the test sees
 * the body leave before the source has produced all of it.
 */
const storage = await realStorage('object-streams');
const proxy = await TcpProxy.start(storage.s3Config.endpoint);
const store = new S3ObjectStore(storage.bucket, { ...storage.s3Config, endpoint: proxy.url });
afterAll(async () => {
  store.destroy();
  await proxy.stop();
});

const SIZE = 20 * MiB;

describe('S3ObjectStore streams (MinIO)', () => {
  test('a 20 MiB object streams in and out intact, and is sent before the source has made all of it', async () => {
    const sentBefore = proxy.bytesToServer;
    const source = randomSource(SIZE, {
      // Halfway, the source waits until 5 MiB went out: a put that gathered the whole body first never gets there.
      pause: {
        after: SIZE / 2,
        until: () =>
          eventually(
            '5 MiB of the body on its way to S3',
            async () => proxy.bytesToServer - sentBefore >= 5 * MiB,
          ),
      },
    });
    const etag = await store.putStream('media/large', source.body, { contentLength: SIZE });
    expect(etag).not.toBe('');

    const got = await store.getStream('media/large');
    expect(got?.size).toBe(SIZE);
    const read = await readInChunks(got!.body);
    expect(read.bytes).toBe(SIZE);
    expect(read.sha256).toBe(source.sha256());
    // It arrived as many pieces, none of them the whole object.
    expect(read.chunks).toBeGreaterThan(10);
    expect(read.largestChunk).toBeLessThan(SIZE / 10);
    // The same object through the buffered API.
    expect((await store.get('media/large'))?.body.length).toBe(SIZE);
  });

  test('a missing object is null; a streamed create of an existing key is refused and changes nothing', async () => {
    expect(await store.getStream('media/missing')).toBeNull();
    await store.put('media/once', Buffer.from('first'));
    await expect(
      store.putStream('media/once', Readable.from([Buffer.from('second')]), {
        contentLength: 6,
        ifAbsent: true,
      }),
    ).rejects.toThrow(PreconditionFailedError);
    expect(Buffer.from((await store.get('media/once'))!.body).toString()).toBe('first');
  });

  test('a body shorter than announced stores nothing', async () => {
    const short = randomSource(1 * MiB);
    await expect(store.putStream('media/short', short.body, { contentLength: 2 * MiB })).rejects.toThrow(
      ObjectStoreError,
    );
    expect(await store.get('media/short')).toBeNull();
  });
});
