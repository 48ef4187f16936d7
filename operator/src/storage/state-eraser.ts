/**
 * Erasing a channel's stored state (the `Logout` deletion policy). The operator never
 * reads the state; it only removes every object under `<prefix>/<clinic>/<channel>/`
 * (contract/state-layout.ts, the layout the worker writes): the live state, the lease and the
 * worker's quarantined copies, which hold the wrapped data key and so stay decryptable while
 * any of them is left.
 */
import type * as S3Sdk from '@aws-sdk/client-s3';
import type { ObjectIdentifier, S3Client } from '@aws-sdk/client-s3';
import { channelStatePrefix, type ChannelStateLocation } from '../../../contract/state-layout.ts';

export interface ChannelLocation extends ChannelStateLocation {
  bucket: string;
}

export interface ChannelStateEraser {
  /** Deletes every object of the channel; resolves with how many were deleted. Throws on any failure. */
  erase(location: ChannelLocation): Promise<number>;
  /** Where the objects are, for a person (`s3://bucket`, a folder). */
  describe(location: ChannelLocation): string;
}

export interface S3EraserOptions {
  region: string;
  endpoint?: string;
  /** Per-request bound, so an unreachable S3 fails a deletion step quickly instead of hanging it. */
  requestTimeoutMs?: number;
}

/**
 * S3 implementation. It deletes every *version* of every object under the prefix, so on a
 * versioned bucket nothing of the channel stays behind as a noncurrent version (on an
 * unversioned bucket the one version of each object is the object). It then checks the prefix
 * is empty, so a writer that raced the erase makes it fail (and be retried) rather than
 * report success.
 */
export class S3ChannelStateEraser implements ChannelStateEraser {
  private readonly options: S3EraserOptions;
  /**
   * The SDK and its client, loaded at the first erasure: most operators never erase anything
   * (only a deleted `Logout` channel does), and the SDK is ~8 MiB of the operator's resident
   * memory once loaded (docs/operator.md, "Measured"). The image's compile cache holds it, so
   * the first erasure does not compile it (warm-compile-cache.ts).
   */
  private client: Promise<{ sdk: typeof S3Sdk; s3: S3Client }> | undefined;

  constructor(o: S3EraserOptions) {
    this.options = o;
  }

  private connect(): Promise<{ sdk: typeof S3Sdk; s3: S3Client }> {
    this.client ??= import('@aws-sdk/client-s3').then(
      (sdk) => {
        const o = this.options;
        const timeout = o.requestTimeoutMs ?? 10_000;
        const s3 = new sdk.S3Client({
          region: o.region,
          maxAttempts: 2,
          requestHandler: { connectionTimeout: timeout, requestTimeout: timeout },
          ...(o.endpoint ? { endpoint: o.endpoint, forcePathStyle: true } : {}),
        });
        return { sdk, s3 };
      },
      (err: unknown) => {
        this.client = undefined; // the next erasure tries again
        throw err;
      },
    );
    return this.client;
  }

  describe(location: ChannelLocation): string {
    return `s3://${location.bucket}`;
  }

  async erase(location: ChannelLocation): Promise<number> {
    const prefix = channelStatePrefix(location);
    const { sdk, s3 } = await this.connect();
    let erased = 0;
    // Bounded: a writer that keeps adding objects (it should be stopped by now) fails the erase.
    for (let round = 0; round < 1_000; round++) {
      const batch = await this.listVersions(sdk, s3, location.bucket, prefix);
      if (batch.length === 0) return erased;
      const result = await s3.send(
        new sdk.DeleteObjectsCommand({
          Bucket: location.bucket,
          Delete: { Objects: batch, Quiet: true },
        }),
      );
      if (result.Errors?.length) {
        const first = result.Errors[0]!;
        throw new Error(
          `S3 refused to delete ${result.Errors.length} object(s) under s3://${location.bucket}/${prefix}: ${first.Code} ${first.Message ?? ''}`.trim(),
        );
      }
      erased += batch.length;
    }
    throw new Error(
      `objects keep appearing under s3://${location.bucket}/${prefix}; is a worker still running?`,
    );
  }

  /** Up to 1,000 object versions and delete markers under the prefix (one DeleteObjects batch). */
  private async listVersions(
    sdk: typeof S3Sdk,
    s3: S3Client,
    bucket: string,
    prefix: string,
  ): Promise<ObjectIdentifier[]> {
    const page = await s3.send(
      new sdk.ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }),
    );
    return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]
      .filter((v) => v.Key?.startsWith(prefix))
      .map((v) => ({
        Key: v.Key!,
        ...(v.VersionId && v.VersionId !== 'null' ? { VersionId: v.VersionId } : {}),
      }));
  }

  /** Closes the client's connections, if it was ever loaded. */
  destroy(): void {
    void this.client?.then(({ s3 }) => s3.destroy()).catch(() => undefined);
  }
}
