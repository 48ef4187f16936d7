/**
 * The channel's stored attachments, in its state bucket under `media/<hash>/` (contract/
 * state-layout.ts), sealed like the auth state: AES-256-GCM under the channel's KMS-wrapped data
 * key, each object bound to clinic, channel and its own key (auth-store/envelope.ts). A file is
 * written as sealed pieces of at most PART_BYTES (so a 100 MB file never sits in memory), then a
 * sealed manifest: the manifest is the completion marker, written only after every piece is
 * stored and the bytes checked. A file without a manifest (a crash, a failed check) is never
 * read; the sweep removes it.
 */
import { createHash } from 'node:crypto';
import { mediaFolderName, MEDIA_DIR } from '../../../contract/state-layout.ts';
import type { SealedObjects } from '../auth-store/sealed-objects.ts';

/** Pieces of inbound media: 1 MiB, so memory per download stays a few MiB whatever the size. */
export const PART_BYTES = 1024 * 1024;
/** Pieces written at once while a file streams in. */
const PARTS_IN_FLIGHT = 3;
/** A folder without a manifest this old is an abandoned write (a download takes far less). */
const ABANDONED_AFTER_MS = 60 * 60 * 1000;

export type MediaKind = 'image' | 'video' | 'audio' | 'document' | 'sticker';

/** What is known about a file besides its bytes (from the WhatsApp message, or the uploader). */
export interface MediaAbout {
  kind: MediaKind;
  mimetype?: string;
  fileName?: string;
  caption?: string;
  ptt?: boolean;
  seconds?: number;
  width?: number;
  height?: number;
}

export interface MediaManifest extends MediaAbout {
  v: 1;
  ref: string;
  size: number;
  /** SHA-256 of the plaintext, hex. */
  sha256: string;
  parts: number;
  /** Size of every piece but the last. */
  partBytes: number;
  storedAt: string;
}

export class MediaTooLargeError extends Error {
  readonly code = 'MediaTooLarge';
  constructor(limit: number) {
    super(`the file is larger than the channel's media limit of ${limit} bytes`);
    this.name = 'MediaTooLargeError';
  }
}

export class MediaNotFoundError extends Error {
  readonly code = 'NotFound';
  constructor(ref: string, what = 'no stored media') {
    super(`${what} ${ref}`);
    this.name = 'MediaNotFoundError';
  }
}

const encoder = new TextEncoder();

export class MediaStore {
  /** Asked for at each use: starting over with fresh credentials replaces the data key. */
  readonly #objects: () => SealedObjects;

  constructor(objects: () => SealedObjects) {
    this.#objects = objects;
  }

  /**
   * Streams `source` into sealed pieces, then writes the manifest. Throws (and removes what it
   * wrote) if the source fails, for instance because the download's hashes did not match, or if
   * it goes past `maxBytes`. Memory: PARTS_IN_FLIGHT + 1 pieces at most.
   */
  async write(
    ref: string,
    source: AsyncIterable<Uint8Array>,
    about: MediaAbout,
    maxBytes: number,
  ): Promise<MediaManifest> {
    const objects = this.#objects();
    const folder = mediaFolderName(ref);
    const hash = createHash('sha256');
    const writes = new Set<Promise<void>>();
    let failed: unknown;
    let parts = 0;
    let size = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const putPart = async (body: Buffer) => {
      const name = `${folder}part/${parts++}`;
      const write = objects.store
        .put(objects.key(name), objects.seal(name, body))
        .then(() => undefined)
        .catch((err: unknown) => {
          failed ??= err;
        });
      writes.add(write);
      void write.finally(() => writes.delete(write));
      if (writes.size >= PARTS_IN_FLIGHT) await Promise.race(writes);
      if (failed) throw failed;
    };
    try {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > maxBytes) throw new MediaTooLargeError(maxBytes);
        hash.update(chunk);
        let rest = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        while (rest.length > 0) {
          const take = Math.min(rest.length, PART_BYTES - pendingBytes);
          pending.push(rest.subarray(0, take));
          pendingBytes += take;
          rest = rest.subarray(take);
          if (pendingBytes === PART_BYTES) {
            const body = Buffer.concat(pending);
            pending = [];
            pendingBytes = 0;
            await putPart(body);
          }
        }
      }
      if (pendingBytes > 0) await putPart(Buffer.concat(pending));
      await Promise.all(writes);
      if (failed) throw failed;
      const manifest: MediaManifest = {
        v: 1,
        ref,
        ...about,
        size,
        sha256: hash.digest('hex'),
        parts,
        partBytes: PART_BYTES,
        storedAt: new Date().toISOString(),
      };
      await this.#putJson(`${folder}manifest`, manifest);
      return manifest;
    } catch (err) {
      await Promise.allSettled(writes);
      // Only the pieces: a pending record (what a retry needs) stays for the next try.
      await this.#removeQuietly(`${folder}part/`, []);
      throw err;
    }
  }

  /** The manifest of a stored file; null if there is none (never written, or not complete). */
  manifest(ref: string): Promise<MediaManifest | null> {
    return this.#getJson<MediaManifest>(`${mediaFolderName(ref)}manifest`);
  }

  /** `length` bytes from `offset` (fewer at the end) of a stored file, decrypted. */
  async read(
    ref: string,
    offset: number,
    length: number,
  ): Promise<{ manifest: MediaManifest; data: Buffer }> {
    const manifest = await this.manifest(ref);
    if (!manifest) throw new MediaNotFoundError(ref);
    const end = Math.min(manifest.size, offset + length);
    const out: Buffer[] = [];
    for (let at = offset; at < end;) {
      const index = Math.floor(at / manifest.partBytes);
      const part = await this.#part(ref, index);
      const from = at - index * manifest.partBytes;
      const to = Math.min(part.length, end - index * manifest.partBytes);
      out.push(part.subarray(from, to));
      at += to - from;
    }
    return { manifest, data: Buffer.concat(out) };
  }

  /** The whole file, piece by piece (one piece in memory at a time). */
  async *stream(ref: string): AsyncGenerator<Buffer> {
    const manifest = await this.manifest(ref);
    if (!manifest) throw new MediaNotFoundError(ref);
    for (let i = 0; i < manifest.parts; i++) yield await this.#part(ref, i);
  }

  /**
   * One piece of a backend's upload (media-upload). Pieces come in order; all but the last have
   * the size of piece 0. Nothing is readable before `completeUpload`.
   */
  async putUploadPart(ref: string, index: number, data: Buffer): Promise<void> {
    const objects = this.#objects();
    const folder = mediaFolderName(ref);
    // Uploading under the same id again replaces the file: its manifest goes first.
    if (index === 0) await this.#removeQuietly(folder, ['manifest']);
    const name = `${folder}part/${index}`;
    await objects.store.put(objects.key(name), objects.seal(name, data));
  }

  /** Checks an upload's pieces (all there, same sizes), hashes them and writes the manifest. */
  async completeUpload(ref: string, lastIndex: number, about: MediaAbout): Promise<MediaManifest> {
    const hash = createHash('sha256');
    let size = 0;
    let partBytes = 0;
    for (let i = 0; i <= lastIndex; i++) {
      let part: Buffer;
      try {
        part = await this.#part(ref, i);
      } catch (err) {
        if (err instanceof MediaNotFoundError)
          throw new MediaNotFoundError(ref, `piece ${i} missing for upload`);
        throw err;
      }
      if (i === 0) partBytes = part.length;
      else if (i < lastIndex && part.length !== partBytes)
        throw new UploadShapeError(
          `piece ${i} has ${part.length} bytes; every piece but the last must have ${partBytes}`,
        );
      else if (i === lastIndex && part.length > partBytes)
        throw new UploadShapeError(
          `the last piece has ${part.length} bytes, more than piece 0 (${partBytes})`,
        );
      hash.update(part);
      size += part.length;
    }
    const manifest: MediaManifest = {
      v: 1,
      ref,
      ...about,
      size,
      sha256: hash.digest('hex'),
      parts: lastIndex + 1,
      partBytes,
      storedAt: new Date().toISOString(),
    };
    await this.#putJson(`${mediaFolderName(ref)}manifest`, manifest);
    return manifest;
  }

  /** What a later retry needs after a failed download (sealed: it holds the media key). */
  savePending<T>(ref: string, record: T): Promise<void> {
    return this.#putJson(`${mediaFolderName(ref)}pending`, record);
  }

  pending<T>(ref: string): Promise<T | null> {
    return this.#getJson<T>(`${mediaFolderName(ref)}pending`);
  }

  async dropPending(ref: string): Promise<void> {
    const objects = this.#objects();
    await objects.store.delete(objects.key(`${mediaFolderName(ref)}pending`));
  }

  /**
   * Retention and clean-up, run periodically: every file stored more than `retentionMs` ago goes
   * (pieces, manifest, pending record), and so does a folder without a manifest or pending
   * record whose newest object is over an hour old (an abandoned write). Returns folders removed.
   */
  async sweep(now: number, retentionMs: number): Promise<number> {
    const objects = this.#objects();
    const base = objects.key('');
    const folders = new Map<string, { keys: string[]; newest: number; complete: boolean }>();
    for (const o of await objects.store.list(`${base}${MEDIA_DIR}/`)) {
      const name = o.key.slice(base.length);
      const folder = name.split('/').slice(0, 2).join('/');
      const entry = folders.get(folder) ?? { keys: [], newest: 0, complete: false };
      entry.keys.push(o.key);
      entry.newest = Math.max(entry.newest, o.lastModified.getTime());
      if (name.endsWith('/manifest') || name.endsWith('/pending')) entry.complete = true;
      folders.set(folder, entry);
    }
    let removed = 0;
    for (const entry of folders.values()) {
      const age = now - entry.newest;
      if (age > retentionMs || (!entry.complete && age > ABANDONED_AFTER_MS)) {
        // The manifest first: a folder is never left looking complete with pieces missing.
        const ordered = [...entry.keys].sort(
          (a, b) => Number(b.endsWith('/manifest')) - Number(a.endsWith('/manifest')),
        );
        for (const key of ordered) await objects.store.delete(key);
        removed++;
      }
    }
    return removed;
  }

  async #part(ref: string, index: number): Promise<Buffer> {
    const objects = this.#objects();
    const name = `${mediaFolderName(ref)}part/${index}`;
    const stored = await objects.store.get(objects.key(name));
    if (!stored) throw new MediaNotFoundError(ref, `piece ${index} missing of`);
    return Buffer.from(objects.open(name, stored.body));
  }

  async #putJson(name: string, value: unknown): Promise<void> {
    const objects = this.#objects();
    await objects.store.put(objects.key(name), objects.seal(name, encoder.encode(JSON.stringify(value))));
  }

  async #getJson<T>(name: string): Promise<T | null> {
    const objects = this.#objects();
    const stored = await objects.store.get(objects.key(name));
    if (!stored) return null;
    return JSON.parse(Buffer.from(objects.open(name, stored.body)).toString('utf8')) as T;
  }

  /** Deletes the objects under `folder`, `first` of them before the rest; failures are left to the sweep. */
  async #removeQuietly(folder: string, first: string[]): Promise<void> {
    const objects = this.#objects();
    try {
      for (const name of first) await objects.store.delete(objects.key(`${folder}${name}`));
      for (const o of await objects.store.list(objects.key(folder))) await objects.store.delete(o.key);
    } catch {
      // The sweep removes whatever is left: without a manifest it is never read.
    }
  }
}

export class UploadShapeError extends Error {
  readonly code = 'InvalidUpload';
  constructor(message: string) {
    super(message);
    this.name = 'UploadShapeError';
  }
}
