import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { testStack } from '../../harness/stack.ts';

/** Smoke test of the real S3 store: objects round-trip and conditional writes are enforced. */
describe('S3-compatible store (MinIO)', () => {
  const { s3 } = testStack();
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const Bucket = `smoke-${Date.now()}`;
  beforeAll(async () => {
    await client.send(new CreateBucketCommand({ Bucket }));
  });
  afterAll(() => client.destroy());

  test('put then get returns the same bytes', async () => {
    await client.send(new PutObjectCommand({ Bucket, Key: 'a', Body: 'payload-1' }));
    const got = await client.send(new GetObjectCommand({ Bucket, Key: 'a' }));
    expect(await got.Body!.transformToString()).toBe('payload-1');
  });

  test('If-None-Match: * refuses to overwrite an existing object', async () => {
    await client.send(new PutObjectCommand({ Bucket, Key: 'once', Body: 'first', IfNoneMatch: '*' }));
    await expect(
      client.send(new PutObjectCommand({ Bucket, Key: 'once', Body: 'second', IfNoneMatch: '*' })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    const got = await client.send(new GetObjectCommand({ Bucket, Key: 'once' }));
    expect(await got.Body!.transformToString()).toBe('first');
  });

  test('If-Match with a stale ETag is refused, with the current ETag accepted', async () => {
    const v1 = await client.send(new PutObjectCommand({ Bucket, Key: 'cas', Body: 'v1' }));
    const v2 = await client.send(new PutObjectCommand({ Bucket, Key: 'cas', Body: 'v2', IfMatch: v1.ETag }));
    await expect(
      client.send(new PutObjectCommand({ Bucket, Key: 'cas', Body: 'v3-stale', IfMatch: v1.ETag })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    await client.send(new PutObjectCommand({ Bucket, Key: 'cas', Body: 'v3', IfMatch: v2.ETag }));
    const got = await client.send(new GetObjectCommand({ Bucket, Key: 'cas' }));
    expect(await got.Body!.transformToString()).toBe('v3');
  });
});
