/**
 * The object storage the worker needs, and nothing more: get, conditional put, list,
 * delete, and streamed reads and writes for objects too large to hold in memory (media).
 * Two implementations sit behind it: S3 (production, tests against MinIO) and a local
 * folder (local mode). "Not found" is a value (null); every other failure throws, so a
 * read error can never be mistaken for an empty state.
 */
import { PassThrough, Readable, Transform } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';

export interface StoredObject {
  body: Uint8Array;
  etag: string;
}

export interface PutCondition {
  /** Create only: fails if the key exists (S3 If-None-Match: *). */
  ifAbsent?: boolean;
  /** Replace only this version: fails if the ETag changed (S3 If-Match). */
  ifMatch?: string;
}

export interface StreamedObject {
  /** The body, read as it arrives. Read it to its end or destroy it: it holds a connection or a file. */
  body: Readable;
  /** Its length in bytes. */
  size: number;
}

export interface StreamPutOptions extends PutCondition {
  /**
   * The body's length in bytes. S3 needs it before the first byte; a body that ends shorter or
   * longer fails the write, and nothing is stored.
   */
  contentLength: number;
}

export interface ListedObject {
  key: string;
  lastModified: Date;
}

export interface ObjectStore {
  /** Where objects live, for error messages (e.g. s3://bucket). */
  readonly location: string;
  get(key: string): Promise<StoredObject | null>;
  /** Returns the new ETag; throws PreconditionFailedError when the condition does not hold. */
  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<string>;
  list(prefix: string): Promise<ListedObject[]>;
  delete(key: string): Promise<void>;
  /** Like get, without holding the body in memory. A failure while reading errors the body with ObjectStoreError. */
  getStream(key: string): Promise<StreamedObject | null>;
  /**
   * Like put, all or nothing, from a stream that is never held whole in memory. It is sent
   * once: a stream cannot be sent again, so a failed write is retried by the caller with a
   * new stream (and a retry refused by its own earlier attempt is a PreconditionFailedError).
   */
  putStream(key: string, body: Readable, options: StreamPutOptions): Promise<string>;
}

/** A conditional write was refused: someone else wrote first (or holds the lease). */
export class PreconditionFailedError extends Error {
  readonly code = 'PreconditionFailed';
  constructor(key: string) {
    super(`conditional write of ${key} refused: the object changed or exists already`);
    this.name = 'PreconditionFailedError';
  }
}

/** A read or write failed for a reason other than "not found" / "condition failed". */
export class ObjectStoreError extends Error {
  readonly code = 'ObjectStoreFailed';
  constructor(operation: string, key: string, cause: unknown) {
    super(`${operation} ${key} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ObjectStoreError';
  }
}

const statusOf = (err: unknown) =>
  (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/**
 * `body` passed through unchanged while it keeps to `length` bytes. A body that runs past it,
 * ends short of it, or fails is reported to `fail` and the stream stops there, neither ending
 * nor erroring: the caller aborts the write, so a cut body is never stored as if it were whole.
 */
export function exactLength(body: Readable, length: number, fail: (err: Error) => void): Readable {
  let seen = 0;
  const checked = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > length) fail(new Error(`the body is longer than the ${length} bytes announced`));
      else done(null, chunk);
    },
    flush(done) {
      if (seen === length) done();
      else fail(new Error(`the body ended after ${seen} of the ${length} bytes announced`));
    },
  });
  body.on('error', (err) => fail(err));
  return body.pipe(checked);
}

/**
 * `source` as a stream whose failures are ObjectStoreErrors naming the object, so a broken
 * read is told apart from a bug wherever it surfaces. Destroying it releases the source.
 */
export function withStoreErrors(source: Readable, operation: string, where: string): Readable {
  const out = new PassThrough();
  source.on('error', (err) => out.destroy(new ObjectStoreError(operation, where, err)));
  out.on('close', () => source.destroy());
  return source.pipe(out);
}

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly config: S3ClientConfig;
  /** For streamed writes, made at the first one (the auth state never streams). */
  private streams: S3Client | undefined;
  private readonly bucket: string;

  constructor(bucket: string, config: S3ClientConfig) {
    this.bucket = bucket;
    this.location = `s3://${bucket}`;
    // One SDK retry only: the worker's circuit breaker and journal decide what a lasting failure
    // means. A retried conditional write may meet its own first attempt: see put().
    this.client = new S3Client({ maxAttempts: 2, ...config });
    this.config = config;
  }

  /**
   * The client of streamed writes: the SDK cannot send a stream twice, so it must not retry them.
   * Its only SDK log line would be a console warning that a failed streamed write is not retried,
   * which putStream's own error already says.
   */
  private get streamClient(): S3Client {
    const quiet = () => undefined;
    return (this.streams ??= new S3Client({
      ...this.config,
      maxAttempts: 1,
      logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
    }));
  }

  async get(key: string): Promise<StoredObject | null> {
    const res = await this.fetch(key);
    if (!res) return null;
    try {
      return { body: await res.Body!.transformToByteArray(), etag: res.ETag ?? '' };
    } catch (err) {
      throw new ObjectStoreError('get', `${this.location}/${key}`, err);
    }
  }

  async getStream(key: string): Promise<StreamedObject | null> {
    const res = await this.fetch(key);
    if (!res) return null;
    // In Node the SDK's body is the HTTP response itself: read as it arrives.
    if (!(res.Body instanceof Readable))
      throw new ObjectStoreError(
        'get',
        `${this.location}/${key}`,
        new Error('the body is not a Node stream'),
      );
    return {
      body: withStoreErrors(res.Body, 'get', `${this.location}/${key}`),
      size: res.ContentLength ?? 0,
    };
  }

  /** The GetObject response, body unread; null when there is no such key. */
  private async fetch(key: string) {
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey' || statusOf(err) === 404) {
        // A missing bucket is a configuration error, not an empty state.
        if ((err as Error).name === 'NoSuchBucket')
          throw new ObjectStoreError('get', `${this.location}/${key}`, err);
        return null;
      }
      throw new ObjectStoreError('get', `${this.location}/${key}`, err);
    }
  }

  async put(key: string, body: Uint8Array, condition: PutCondition = {}): Promise<string> {
    try {
      const res = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ...(condition.ifAbsent ? { IfNoneMatch: '*' } : {}),
          ...(condition.ifMatch ? { IfMatch: condition.ifMatch } : {}),
        }),
      );
      return res.ETag ?? '';
    } catch (err) {
      if (statusOf(err) === 412 || (err as Error).name === 'PreconditionFailed') {
        // The SDK's retry of a write whose first attempt landed (its answer lost) is refused by
        // that very attempt: the object then holds exactly these bytes, and the write is done.
        const stored = await this.get(key);
        if (stored && Buffer.from(stored.body).equals(Buffer.from(body))) return stored.etag;
        throw new PreconditionFailedError(key);
      }
      throw new ObjectStoreError('put', `${this.location}/${key}`, err);
    }
  }

  async putStream(key: string, body: Readable, options: StreamPutOptions): Promise<string> {
    // A plain PutObject: with its length known up front the SDK streams the body as it is read.
    // A body of the wrong length, or one that fails, aborts the request: nothing is stored.
    const abort = new AbortController();
    let bodyError: Error | undefined;
    const checked = exactLength(body, options.contentLength, (err) => {
      bodyError ??= err;
      abort.abort(err);
    });
    try {
      const res = await this.streamClient.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: checked,
          ContentLength: options.contentLength,
          ...(options.ifAbsent ? { IfNoneMatch: '*' } : {}),
          ...(options.ifMatch ? { IfMatch: options.ifMatch } : {}),
        }),
        { abortSignal: abort.signal },
      );
      return res.ETag ?? '';
    } catch (err) {
      if (!bodyError && (statusOf(err) === 412 || (err as Error).name === 'PreconditionFailed'))
        throw new PreconditionFailedError(key);
      throw new ObjectStoreError('put', `${this.location}/${key}`, bodyError ?? err);
    } finally {
      // Refused before it was read to its end (412, or a failed request): release the source.
      checked.destroy();
      if (!body.readableEnded) body.destroy();
    }
  }

  async list(prefix: string): Promise<ListedObject[]> {
    const out: ListedObject[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of res.Contents ?? [])
          out.push({ key: o.Key!, lastModified: o.LastModified ?? new Date(0) });
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw new ObjectStoreError('list', `${this.location}/${prefix}`, err);
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw new ObjectStoreError('delete', `${this.location}/${key}`, err);
    }
  }

  destroy(): void {
    this.client.destroy();
    this.streams?.destroy();
  }
}
