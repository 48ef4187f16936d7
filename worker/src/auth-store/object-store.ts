/**
 * The object storage the auth state needs, and nothing more: get, conditional put,
 * list, delete. Two implementations sit behind it: S3 (production, tests against MinIO)
 * and a local folder (local mode). "Not found" is a value (null); every other failure
 * throws, so a read error can never be mistaken for an empty state.
 */
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
}

/** A conditional write was refused: someone else wrote first (or holds the lease). */
export class PreconditionFailedError extends Error {
  constructor(key: string) {
    super(`conditional write of ${key} refused: the object changed or exists already`);
    this.name = 'PreconditionFailedError';
  }
}

/** A read or write failed for a reason other than "not found" / "condition failed". */
export class ObjectStoreError extends Error {
  constructor(operation: string, key: string, cause: unknown) {
    super(`${operation} ${key} failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ObjectStoreError';
  }
}

const statusOf = (err: unknown) =>
  (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(bucket: string, config: S3ClientConfig) {
    this.bucket = bucket;
    this.location = `s3://${bucket}`;
    // One SDK retry only: the worker's circuit breaker and journal decide what a lasting failure
    // means. A retried conditional write may meet its own first attempt: see put().
    this.client = new S3Client({ maxAttempts: 2, ...config });
  }

  async get(key: string): Promise<StoredObject | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return { body: await res.Body!.transformToByteArray(), etag: res.ETag ?? '' };
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
  }
}
