/**
 * A read-only ObjectStore over a chosen set of objects: a channel's state as it was at a moment
 * (object versions), a quarantined copy read under its original keys, or a restore's target.
 * The product's own readers (SealedObjects, readStoredState) then check such a set exactly as
 * a worker would load it, without the set ever being written anywhere first.
 */
import type { Readable } from 'node:stream';
import type { ListedObject, ObjectStore, StoredObject } from '../../../worker/src/auth-store/object-store.ts';

export interface ViewEntry {
  lastModified: Date;
  /** The body; null when it has gone meanwhile. */
  read: () => Promise<Uint8Array | null>;
}

export class ObjectSetView implements ObjectStore {
  readonly location: string;
  private readonly entries: Map<string, ViewEntry>;
  /** Each body is fetched once: the check reads some objects twice (each, then the state). */
  private readonly bodies = new Map<string, Promise<Uint8Array | null>>();

  constructor(location: string, entries: Map<string, ViewEntry>) {
    this.location = location;
    this.entries = entries;
  }

  async get(key: string): Promise<StoredObject | null> {
    const entry = this.entries.get(key);
    if (!entry) return null;
    let body = this.bodies.get(key);
    if (!body) this.bodies.set(key, (body = entry.read()));
    const read = await body;
    return read ? { body: read, etag: '' } : null;
  }

  async list(prefix: string): Promise<ListedObject[]> {
    return [...this.entries]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, e]) => ({ key, lastModified: e.lastModified }));
  }

  put(key: string): Promise<string> {
    return Promise.reject(new Error(`${this.location} is a read-only view: ${key} was not written`));
  }

  delete(key: string): Promise<void> {
    return Promise.reject(new Error(`${this.location} is a read-only view: ${key} was not deleted`));
  }

  getStream(key: string): Promise<null> {
    return Promise.reject(new Error(`${this.location} is a read-only view: no stream of ${key}`));
  }

  putStream(key: string, _body: Readable): Promise<string> {
    return this.put(key);
  }
}
