/**
 * The worker's sent-message records of one contact (`<prefix>/<clinic>/<channel>/messages/…` in
 * S3, worker/src/auth-store/message-store.ts): kept, encrypted, so WhatsApp can ask for a resend.
 * They are named by a hash of the message id, not by the contact, so the contact's records are
 * found through its events: the ids of messages the channel sent to it (`fromMe` events).
 *
 * The CLI never decrypts them (that needs the channel's data key through KMS): an erase deletes
 * every version of each, an export lists which exist. S3 credentials come from the AWS SDK's
 * usual chain (environment, profile, role).
 */
import {
  DeleteObjectsCommand,
  ListObjectVersionsCommand,
  S3Client,
  type ObjectIdentifier,
} from '@aws-sdk/client-s3';
import { channelStatePrefix, sentMessageName } from '../../contract/state-layout.ts';
import type { ContactScan } from './contact-data.ts';

export interface StateBucket {
  bucket: string;
  /** WA_S3_PREFIX of the workers (`wa` by default). */
  prefix: string;
  region: string;
  endpoint?: string;
}

/** Keys of the records the channel may hold for messages it sent to the contact. */
export function sentRecordKeys(scan: ContactScan, clinicId: string, state: StateBucket): string[] {
  const keys = new Set<string>();
  for (const e of scan.events) {
    if (e.event.fromMe !== true || typeof e.event.id !== 'string') continue;
    const channelId = e.subject.split('.')[2]!;
    keys.add(
      `${channelStatePrefix({ prefix: state.prefix, clinicId, channelId })}${sentMessageName(e.event.id)}`,
    );
  }
  return [...keys].sort();
}

export class SentRecords {
  private readonly s3: S3Client;
  private readonly bucket: string;
  readonly state: StateBucket;

  constructor(state: StateBucket) {
    this.state = state;
    this.bucket = state.bucket;
    this.s3 = new S3Client({
      region: state.region,
      maxAttempts: 2,
      ...(state.endpoint ? { endpoint: state.endpoint, forcePathStyle: true } : {}),
    });
  }

  /** Every version and delete marker of exactly this key. */
  private async versions(key: string): Promise<ObjectIdentifier[]> {
    const page = await this.s3.send(
      new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: key, MaxKeys: 1000 }),
    );
    return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]
      .filter((v) => v.Key === key)
      .map((v) => ({
        Key: key,
        ...(v.VersionId && v.VersionId !== 'null' ? { VersionId: v.VersionId } : {}),
      }));
  }

  /** The keys that exist (in any version). */
  async present(keys: string[]): Promise<string[]> {
    const found: string[] = [];
    for (const key of keys) if ((await this.versions(key)).length > 0) found.push(key);
    return found;
  }

  /** Deletes every version of each key; resolves with how many records had any. */
  async erase(keys: string[]): Promise<number> {
    let erased = 0;
    for (const key of keys) {
      const versions = await this.versions(key);
      if (versions.length === 0) continue;
      const result = await this.s3.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: versions, Quiet: true } }),
      );
      if (result.Errors?.length)
        throw new Error(`S3 refused to delete s3://${this.bucket}/${key}: ${result.Errors[0]!.Code ?? ''}`);
      erased++;
    }
    return erased;
  }

  destroy(): void {
    this.s3.destroy();
  }
}
