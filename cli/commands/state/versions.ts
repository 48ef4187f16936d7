/**
 * A channel's object history in a versioned bucket: every version and delete marker under its
 * prefix, and the set of versions that was current at a given moment (a restore point).
 */
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ObjectSetView } from './object-set-view.ts';

export interface ObjectVersion {
  key: string;
  /** S3's version id ("null" for an object written before versioning was turned on). */
  versionId: string;
  lastModified: Date;
  /** A delete marker: the object did not exist from then on. */
  deleted: boolean;
}

export async function versioningEnabled(s3: S3Client, bucket: string): Promise<boolean> {
  const res = await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }));
  return res.Status === 'Enabled';
}

/** Every version and delete marker under `prefix`, newest first per key. */
export async function listVersions(s3: S3Client, bucket: string, prefix: string): Promise<ObjectVersion[]> {
  const out: ObjectVersion[] = [];
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (;;) {
    const page = await s3.send(
      new ListObjectVersionsCommand({
        Bucket: bucket,
        Prefix: prefix,
        KeyMarker: keyMarker,
        VersionIdMarker: versionIdMarker,
      }),
    );
    for (const v of page.Versions ?? [])
      out.push({
        key: v.Key!,
        versionId: v.VersionId ?? 'null',
        lastModified: v.LastModified!,
        deleted: false,
      });
    for (const m of page.DeleteMarkers ?? [])
      out.push({
        key: m.Key!,
        versionId: m.VersionId ?? 'null',
        lastModified: m.LastModified!,
        deleted: true,
      });
    if (!page.IsTruncated) break;
    keyMarker = page.NextKeyMarker;
    versionIdMarker = page.NextVersionIdMarker;
  }
  // Newest first per key; S3 lists them so, but delete markers came in their own list.
  return out.sort((a, b) =>
    a.key === b.key ? b.lastModified.getTime() - a.lastModified.getTime() : a.key < b.key ? -1 : 1,
  );
}

/**
 * The versions current at `at`, by key: for each key the newest version or delete marker written
 * at or before `at`; keys deleted then, or not yet written, are absent.
 */
export function versionsAt(versions: ObjectVersion[], at: Date): Map<string, ObjectVersion> {
  const current = new Map<string, ObjectVersion>();
  const decided = new Set<string>();
  for (const v of versions) {
    if (decided.has(v.key) || v.lastModified.getTime() > at.getTime()) continue;
    decided.add(v.key);
    if (!v.deleted) current.set(v.key, v);
  }
  return current;
}

/**
 * Keys whose oldest remaining history is a delete marker written after `at`: the object existed
 * then (the state's objects are deleted only once listed), but that version is gone. Without it,
 * the set of that moment may still load, as an older state mixed with newer objects.
 */
export function lostBefore(versions: ObjectVersion[], at: Date): string[] {
  const oldest = new Map<string, ObjectVersion>();
  for (const v of versions) oldest.set(v.key, v); // newest first per key: the last one wins
  return [...oldest.values()]
    .filter((v) => v.deleted && v.lastModified.getTime() > at.getTime())
    .map((v) => v.key);
}

/** The newest version (or delete marker) of each key: what is in the bucket now. */
export function latestVersions(versions: ObjectVersion[]): Map<string, ObjectVersion> {
  return versionsAt(versions, new Date(8.64e15));
}

export async function readVersion(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId: string,
): Promise<Uint8Array | null> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
    return await res.Body!.transformToByteArray();
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
    throw err;
  }
}

/** A read-only store holding exactly `set`, each object read at its version. */
export function viewOfVersions(
  s3: S3Client,
  bucket: string,
  set: Map<string, ObjectVersion>,
  label: string,
): ObjectSetView {
  return new ObjectSetView(
    `s3://${bucket} ${label}`,
    new Map(
      [...set].map(([key, v]) => [
        key,
        { lastModified: v.lastModified, read: () => readVersion(s3, bucket, key, v.versionId) },
      ]),
    ),
  );
}

/** Makes an earlier version the current one again (a new version with its bytes). */
export async function copyVersion(s3: S3Client, bucket: string, v: ObjectVersion): Promise<void> {
  await s3.send(
    new CopyObjectCommand({
      Bucket: bucket,
      Key: v.key,
      CopySource: `${bucket}/${v.key.split('/').map(encodeURIComponent).join('/')}?versionId=${encodeURIComponent(v.versionId)}`,
    }),
  );
}

/** Deletes the current version (a delete marker in a versioned bucket: the history stays). */
export async function deleteCurrent(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}
