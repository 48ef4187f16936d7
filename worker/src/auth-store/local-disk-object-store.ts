/**
 * The ObjectStore of local mode: one file per object under a folder on this machine,
 * with the same semantics the lease and the journal rely on in S3:
 *
 * - "not found" is null; every other failure throws ObjectStoreError;
 * - a write is all or nothing: the body goes to a temporary file, is fsynced, then
 *   renamed over the object (readers see the old or the new body, never half of one; a
 *   streamed reader keeps the file it opened). A streamed write goes the same way, written
 *   to the temporary file as it arrives;
 * - conditional writes (S3 If-None-Match: * / If-Match) are compare-and-set across
 *   processes: every write and delete runs under a per-object lock file created with
 *   O_EXCL, so the check and the rename of one writer never interleave with another's,
 *   and two workers of one channel can never both win;
 * - ETags are a hash of the body (as S3's MD5 ETag), so they need no metadata file;
 * - folders are 0700 and files 0600: the objects are encrypted already, but their
 *   names and sizes are nobody else's business either.
 *
 * The per-object lock, and how a dead holder's lock is broken, are file-lock.ts.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { constants, createReadStream, type Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { LockWaitError, lockFile } from './file-lock.ts';
import {
  exactLength,
  ObjectStoreError,
  PreconditionFailedError,
  withStoreErrors,
  type ListedObject,
  type ObjectStore,
  type PutCondition,
  type StoredObject,
  type StreamedObject,
  type StreamPutOptions,
} from './object-store.ts';

/** Names of our own bookkeeping files start with a dot; object key segments may not. */
const TMP_MARK = '.tmp-';
const LOCK_WAIT_MS = 5_000;

const etagOfHash = (hash: Hash) => `"${hash.digest('hex').slice(0, 32)}"`;
const etagOf = (body: Uint8Array) => etagOfHash(createHash('sha256').update(body));

const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

export class LocalDiskObjectStore implements ObjectStore {
  readonly location: string;
  private readonly root: string;
  private readonly lockWaitMs: number;

  constructor(root: string, options: { lockWaitMs?: number } = {}) {
    if (!isAbsolute(root)) throw new Error(`the state folder must be an absolute path, got ${root}`);
    this.root = root;
    this.lockWaitMs = options.lockWaitMs ?? LOCK_WAIT_MS;
    this.location = `file://${root}`;
  }

  /** Object key → file path; refuses keys that could leave the folder or collide with bookkeeping files. */
  private path(key: string): string {
    const parts = key.split('/');
    if (parts.some((p) => p === '' || p.startsWith('.') || p.includes('\0') || p.includes(sep))) {
      throw new ObjectStoreError(
        'use',
        `${this.location}/${key}`,
        new Error('object keys are /-separated names that do not start with "."'),
      );
    }
    return join(this.root, ...parts);
  }

  async get(key: string): Promise<StoredObject | null> {
    const file = this.path(key);
    try {
      const body = new Uint8Array(await readFile(file));
      return { body, etag: etagOf(body) };
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      throw new ObjectStoreError('get', `${this.location}/${key}`, err);
    }
  }

  async getStream(key: string): Promise<StreamedObject | null> {
    const file = this.path(key);
    let handle: FileHandle;
    try {
      handle = await open(file, constants.O_RDONLY);
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      throw new ObjectStoreError('get', `${this.location}/${key}`, err);
    }
    try {
      // The open file is read to its end even if a writer renames a new body over it meanwhile.
      const { size } = await handle.stat();
      return {
        body: withStoreErrors(handle.createReadStream(), 'get', `${this.location}/${key}`),
        size,
      };
    } catch (err) {
      await handle.close();
      throw new ObjectStoreError('get', `${this.location}/${key}`, err);
    }
  }

  put(key: string, body: Uint8Array, condition: PutCondition = {}): Promise<string> {
    return this.write(key, condition, async (tmp) => {
      await writeDurably(tmp, body);
      return etagOf(body);
    });
  }

  putStream(key: string, body: Readable, options: StreamPutOptions): Promise<string> {
    const { contentLength, ...condition } = options;
    return this.write(key, condition, (tmp) => writeStreamDurably(tmp, body, contentLength));
  }

  /** Fills a temporary file with `fill` (returning the body's ETag), then renames it over the object. */
  private async write(
    key: string,
    condition: PutCondition,
    fill: (tmp: string) => Promise<string>,
  ): Promise<string> {
    const file = this.path(key);
    const tmp = join(dirname(file), `.${basename(file)}${TMP_MARK}${randomBytes(6).toString('hex')}`);
    let etag: string;
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      etag = await fill(tmp);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw new ObjectStoreError('put', `${this.location}/${key}`, err);
    }
    // Every write takes the lock, not only conditional ones: an unconditional rename landing
    // between another writer's check and rename would otherwise be overwritten unseen.
    let release: (() => Promise<void>) | undefined;
    try {
      release = await this.lock(file, key);
      if (condition.ifAbsent === true || condition.ifMatch !== undefined) {
        const current = await etagOfFile(file);
        const holds = condition.ifAbsent ? current === null : current === condition.ifMatch;
        if (!holds) throw new PreconditionFailedError(key);
      }
      await rename(tmp, file);
      await syncDir(dirname(file));
      return etag;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      if (err instanceof PreconditionFailedError || err instanceof ObjectStoreError) throw err;
      throw new ObjectStoreError('put', `${this.location}/${key}`, err);
    } finally {
      await release?.();
    }
  }

  async list(prefix: string): Promise<ListedObject[]> {
    // S3 prefixes are plain string prefixes: walk the deepest folder they name fully.
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const out: ListedObject[] = [];
    const walk = async (relative: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(join(this.root, relative), { withFileTypes: true });
      } catch (err) {
        if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return;
        throw err;
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue; // temporary and lock files
        const key = relative === '' ? e.name : `${relative}/${e.name}`;
        if (e.isDirectory()) {
          if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(key);
        } else if (e.isFile() && key.startsWith(prefix)) {
          const info = await stat(join(this.root, key)).catch(() => undefined);
          if (info) out.push({ key, lastModified: info.mtime });
        }
      }
    };
    try {
      await walk(folder);
    } catch (err) {
      throw new ObjectStoreError('list', `${this.location}/${prefix}`, err);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    const file = this.path(key);
    let release: (() => Promise<void>) | undefined;
    try {
      release = await this.lock(file, key);
      await rm(file, { force: true });
    } catch (err) {
      if (err instanceof ObjectStoreError) throw err;
      throw new ObjectStoreError('delete', `${this.location}/${key}`, err);
    } finally {
      await release?.();
    }
  }

  /** Takes the object's lock file; a lock that stays taken too long is a failure of the store. */
  private async lock(file: string, key: string): Promise<() => Promise<void>> {
    try {
      return await lockFile(file, this.lockWaitMs);
    } catch (err) {
      if (err instanceof LockWaitError) throw new ObjectStoreError('lock', `${this.location}/${key}`, err);
      throw err;
    }
  }
}

/** Writes a new file (0600) and flushes it to the disk before returning. */
async function writeDurably(file: string, body: Uint8Array): Promise<void> {
  const handle = await open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a new file (0600) from a stream of `length` bytes, a chunk at a time, and flushes it to
 * the disk; returns the body's ETag. A body of another length fails (the caller removes the file).
 */
async function writeStreamDurably(file: string, body: Readable, length: number): Promise<string> {
  const handle = await open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  const hash = createHash('sha256');
  try {
    const checked: Readable = exactLength(body, length, (err) => checked.destroy(err));
    for await (const chunk of checked as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      await handle.write(chunk);
    }
    await handle.sync();
    return etagOfHash(hash);
  } finally {
    await handle.close();
    body.destroy();
  }
}

/** The ETag of the object's file, read a chunk at a time; null when there is none. */
async function etagOfFile(file: string): Promise<string | null> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file) as AsyncIterable<Uint8Array>) hash.update(chunk);
  } catch (err) {
    if (errno(err) === 'ENOENT') return null;
    throw err;
  }
  return etagOfHash(hash);
}

/** A rename is durable only once its folder is flushed too. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
